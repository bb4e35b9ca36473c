// The alerts dashboard: rows and sky-map points added as alerts arrive over the websocket.
// The feed is asked for everything after the last id shown, on first connect and after any
// drop, so a dashboard that lost its connection fills in what it missed, each alert once.
(function () {
  const feed = document.getElementById("feed");
  const rows = document.getElementById("alert-rows");
  const status = document.getElementById("feed-status");
  const panel = document.getElementById("alert-panel");
  const skyMap = document.getElementById("sky-map");
  const shown = new Set();
  const state = { socket: null, lastId: Number(feed.dataset.lastId), paused: false, delay: 500 };
  window.alertFeed = state;  // for people debugging a feed (and the browser tests)

  function cell(text, name) {
    const td = document.createElement("td");
    td.textContent = text;
    if (name) td.className = name;
    return td;
  }

  function percent(p) {
    return p === null || p === undefined ? "–" : `${Math.round(p * 100)}%`;
  }

  function kind(alert) {
    return alert.class ? `${alert.class} ${percent(alert.class_probability)}` : "–";
  }

  function longitude(ra) {
    return ra <= 180 ? 180 - ra : 540 - ra;  // as the server's sky map: RA grows to the left
  }

  function add(alert, live) {
    if (shown.has(alert.id)) return;
    shown.add(alert.id);
    state.lastId = Math.max(state.lastId, alert.id);
    const row = document.createElement("tr");
    row.dataset.id = alert.id;
    row.append(cell(alert.id), cell(alert.observed_at.replace("T", " ").slice(0, 19)), cell(alert.object_id),
      cell(alert.band), cell(alert.magnitude.toFixed(2)), cell(percent(alert.real_bogus), "real"), cell(kind(alert), "kind"),
      cell(alert.filters.map((f) => f.name).join(", ")));
    if (live) row.classList.add("fresh");
    row.addEventListener("click", () => open(alert.id));
    rows.prepend(row);
    while (rows.children.length > 500) rows.lastElementChild.remove();
    if (live) Plotly.extendTraces(skyMap, { lon: [[longitude(alert.ra_deg)]], lat: [[alert.dec_deg]],
      text: [[alert.object_id]], customdata: [[[alert.ra_deg, alert.magnitude]]] }, [0]);
  }

  function rescore(alert) {  // a newly promoted model has classified an alert already shown
    const row = rows.querySelector(`tr[data-id="${alert.id}"]`);
    if (!row) return;
    row.querySelector(".real").textContent = percent(alert.real_bogus);
    row.querySelector(".kind").textContent = kind(alert);
  }

  async function open(id) {
    const response = await fetch(`${feed.dataset.panel}${id}/`);
    panel.innerHTML = await response.text();
    panel.querySelectorAll("[data-figure]").forEach((element) => {
      const figure = JSON.parse(element.dataset.figure);
      Plotly.newPlot(element, figure.data, figure.layout, { responsive: true, displaylogo: false });
    });
    rows.querySelectorAll("tr.selected").forEach((row) => row.classList.remove("selected"));
    rows.querySelector(`tr[data-id="${id}"]`)?.classList.add("selected");
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const filter = feed.dataset.filter ? `&filter=${feed.dataset.filter}` : "";
    const socket = new WebSocket(`${scheme}://${window.location.host}${feed.dataset.socket}?after=${state.lastId}${filter}`);
    state.socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "alert") add(message.alert, true);
      if (message.type === "scores") message.alerts.forEach(rescore);
      if (message.type === "caught_up") { status.textContent = "live"; state.delay = 500; }
    };
    socket.onclose = (event) => {
      if (event.code === 4403) { status.textContent = "not allowed to watch these alerts"; return; }
      status.textContent = state.paused ? "paused" : "reconnecting…";
      if (!state.paused) setTimeout(connect, state.delay);
      state.delay = Math.min(state.delay * 2, 10000);
    };
  }

  state.reconnect = () => { state.paused = false; connect(); };
  JSON.parse(document.getElementById("initial-alerts").textContent).forEach((alert) => add(alert, false));
  connect();
})();
