// The alerts dashboard. A broker sends thousands of alerts a night, so the page holds one page
// of rows (the newest, kept up to date over the websocket; older pages fetched on demand) and a
// bounded number of sky-map points, a trace per class. The feed is asked for everything after
// the last id seen, on first connect and after any drop, so a dashboard that lost its
// connection fills in what it missed, each alert once. "live" is said only while alerts flow.
(function () {
  const feed = document.getElementById("feed");
  const rows = document.getElementById("alert-rows");
  const status = document.getElementById("feed-status");
  const notice = document.getElementById("stream-notice");
  const panel = document.getElementById("alert-panel");
  const panelBody = document.getElementById("alert-panel-body");
  const skyMap = document.getElementById("sky-map");
  const buttons = { newest: document.getElementById("newest"), newer: document.getElementById("newer"),
    older: document.getElementById("older"), label: document.getElementById("page-label") };
  const labels = JSON.parse(document.getElementById("class-labels").textContent);
  const pageSize = Number(feed.dataset.pageSize);
  const mapPoints = Number(feed.dataset.mapPoints);
  const filter = feed.dataset.filter ? `&filter=${feed.dataset.filter}` : "";
  const seen = new Set();
  const state = {
    socket: null, lastId: Number(feed.dataset.lastId), paused: false, delay: 500, connected: false,
    caughtUp: false, flowing: feed.dataset.streamRunning === "true", selected: null,
    newest: [], olderThanNewest: feed.dataset.older === "true", cursors: [], unseen: 0,
  };
  window.alertFeed = state;  // for people debugging a feed (and the browser tests)

  function cell(text, name, title) {
    const td = document.createElement("td");
    td.textContent = text;
    if (name) td.className = name;
    if (title) td.title = title;
    return td;
  }

  function percent(p) {
    return p === null || p === undefined ? "–" : `${Math.round(p * 100)}%`;
  }

  function kind(alert) {
    return alert.class ? `${labels[alert.class] ?? alert.class} ${percent(alert.class_probability)}` : "–";
  }

  function observed(alert) {
    return alert.observed_at.replace("T", " ").slice(0, 19);
  }

  function longitude(ra) {
    return ra <= 180 ? 180 - ra : 540 - ra;  // as the server's sky map: RA grows to the left
  }

  function rowOf(alert) {
    const row = document.createElement("tr");
    row.dataset.id = alert.id;
    row.append(cell(alert.id), cell(observed(alert), "observed"), cell(alert.mjd.toFixed(5), "mjd"),
      cell(alert.object_id), cell(alert.band), cell(alert.magnitude.toFixed(2)),
      cell(percent(alert.real_bogus), "real"), cell(kind(alert), "kind"), cell(alert.filters.map((f) => f.name).join(", ")));
    if (alert.id === state.selected) row.classList.add("selected");
    return row;
  }

  // --- the table: one page at a time -------------------------------------------------------

  function onNewest() {
    return state.cursors.length === 0;
  }

  function show(alerts, older) {
    rows.replaceChildren(...alerts.map(rowOf));
    buttons.older.disabled = !older;
    buttons.newer.hidden = buttons.newest.hidden = onNewest();
    buttons.newest.textContent = state.unseen ? `Newest (${state.unseen} new)` : "Newest";
    const span = alerts.length ? `observed ${observed(alerts.at(-1))} to ${observed(alerts[0])}` : "no older alerts";
    buttons.label.textContent = onNewest() ? `The newest ${pageSize}, as they arrive`
      : `Page ${state.cursors.length + 1}: ${span}`;
  }

  async function showOlder(before) {
    const response = await fetch(`${feed.dataset.pages}?before=${before}${filter}`);
    const page = await response.json();
    show(page.alerts, page.older);
  }

  buttons.older.addEventListener("click", () => {
    const oldest = rows.lastElementChild;
    if (!oldest) return;
    state.cursors.push(Number(oldest.dataset.id));
    showOlder(state.cursors.at(-1));
  });
  buttons.newer.addEventListener("click", () => {
    state.cursors.pop();
    if (onNewest()) showNewest(); else showOlder(state.cursors.at(-1));
  });
  buttons.newest.addEventListener("click", () => { state.cursors = []; showNewest(); });

  function showNewest() {
    state.unseen = 0;
    show(state.newest, state.olderThanNewest);
  }

  function add(alert, live) {
    if (seen.has(alert.id)) return;
    seen.add(alert.id);
    state.lastId = Math.max(state.lastId, alert.id);
    state.newest.unshift(alert);
    if (state.newest.length > pageSize) { state.newest.pop(); state.olderThanNewest = true; }
    if (onNewest()) {
      const row = rowOf(alert);
      if (live) row.classList.add("fresh");
      rows.prepend(row);
      while (rows.children.length > pageSize) rows.lastElementChild.remove();
      buttons.older.disabled = !state.olderThanNewest;
    } else if (live) {
      state.unseen += 1;
      buttons.newest.textContent = `Newest (${state.unseen} new)`;
    }
    if (live) plot(alert);
    if (live && state.caughtUp) flowing(true);
  }

  function rescore(alert) {  // a newly promoted model has classified an alert already shown
    const known = state.newest.find((shown) => shown.id === alert.id);
    if (known) Object.assign(known, alert);
    const row = rows.querySelector(`tr[data-id="${alert.id}"]`);
    if (row) {
      row.querySelector(".real").textContent = percent(alert.real_bogus);
      row.querySelector(".kind").textContent = kind(alert);
    }
    replot(alert);
  }

  // --- the sky map: a trace a class, points added live, at most mapPoints of them ----------

  let drawing = false;

  function traceFor(label) {
    let trace = skyMap.data.find((t) => t.meta.class === label);
    if (!trace) {
      const { template, colours } = skyMap.layout.meta;
      trace = { ...template, name: labels[label] ?? label, meta: { class: label },
        marker: { ...template.marker, color: colours[label] ?? colours.other },
        lon: [], lat: [], text: [], customdata: [] };
      skyMap.data.push(trace);
    }
    return trace;
  }

  function plot(alert) {
    const trace = traceFor(alert.class ?? "");
    trace.lon.push(longitude(alert.ra_deg));
    trace.lat.push(alert.dec_deg);
    trace.text.push(alert.object_id);
    trace.customdata.push([alert.id, alert.ra_deg, alert.magnitude, alert.mjd, observed(alert)]);
    if (skyMap.data.reduce((sum, t) => sum + t.lon.length, 0) > mapPoints * 1.1) keepNewest(mapPoints);
    draw();
  }

  function keepPoints(trace, keep) {
    const indices = trace.customdata.map((point, index) => index).filter((index) => keep(trace.customdata[index]));
    for (const key of ["lon", "lat", "text", "customdata"]) trace[key] = indices.map((index) => trace[key][index]);
  }

  function keepNewest(count) {
    const ids = skyMap.data.flatMap((t) => t.customdata.map((point) => point[0])).sort((a, b) => b - a);
    const oldest = ids[count - 1];
    skyMap.data.forEach((trace) => keepPoints(trace, (point) => point[0] >= oldest));
  }

  function replot(alert) {  // its class changed: the point moves to its class's trace
    const trace = skyMap.data.find((t) => t.customdata.some((point) => point[0] === alert.id));
    if (!trace || trace.meta.class === (alert.class ?? "")) return;
    const index = trace.customdata.findIndex((point) => point[0] === alert.id);
    const moved = traceFor(alert.class ?? "");
    for (const key of ["lon", "lat", "text", "customdata"]) moved[key].push(trace[key].splice(index, 1)[0]);
    draw();
  }

  function draw() {  // once a frame, however many alerts came in it
    if (drawing) return;
    drawing = true;
    requestAnimationFrame(() => {
      drawing = false;
      skyMap.layout.datarevision = (skyMap.layout.datarevision || 0) + 1;
      Plotly.react(skyMap, skyMap.data, skyMap.layout);
    });
  }

  skyMap.on("plotly_click", (event) => open(event.points[0].customdata[0]));

  // --- the panel of one alert: in view, inside the window, at any width --------------------

  async function open(id) {
    const response = await fetch(`${feed.dataset.panel}${id}/`);
    panelBody.innerHTML = await response.text();
    state.selected = id;
    panel.hidden = false;
    document.body.classList.add("panel-open");  // on a wide window the page makes room for it
    Plotly.Plots.resize(skyMap);
    panel.scrollTop = 0;
    panel.focus({ preventScroll: true });
    panelBody.querySelectorAll("[data-figure]").forEach((element) => {
      const figure = JSON.parse(element.dataset.figure);
      Plotly.newPlot(element, figure.data, figure.layout, { responsive: true, displaylogo: false });
    });
    rows.querySelectorAll("tr.selected").forEach((row) => row.classList.remove("selected"));
    rows.querySelector(`tr[data-id="${id}"]`)?.classList.add("selected");
  }

  function close() {
    panel.hidden = true;
    document.body.classList.remove("panel-open");
    Plotly.Plots.resize(skyMap);
    state.selected = null;
    rows.querySelectorAll("tr.selected").forEach((row) => row.classList.remove("selected"));
  }

  rows.addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-id]");
    if (row) open(Number(row.dataset.id));
  });
  document.getElementById("alert-panel-close").addEventListener("click", close);
  document.addEventListener("keydown", (event) => { if (event.key === "Escape" && !panel.hidden) close(); });

  // --- the feed and whether alerts flow ----------------------------------------------------

  function say(text, name) {
    status.textContent = text;
    status.dataset.state = name;
  }

  function flowing(yes, text) {
    state.flowing = yes;
    if (text !== undefined) document.getElementById("stream-notice-text").textContent = text;
    notice.hidden = yes;
    if (state.connected) say(yes ? "live" : "connected, no alerts arriving", yes ? "live" : "idle");
  }

  async function askStream() {
    const response = await fetch(feed.dataset.stream);
    if (response.ok) { const stream = await response.json(); flowing(stream.running, stream.notice); }
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const url = `${scheme}://${window.location.host}${feed.dataset.socket}?after=${state.lastId}${filter}`;
    const socket = new WebSocket(url);
    state.socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "alert") add(message.alert, true);
      if (message.type === "scores") message.alerts.forEach(rescore);
      if (message.type === "caught_up") {
        state.connected = state.caughtUp = true;
        state.delay = 500;
        flowing(state.flowing);
      }
    };
    socket.onclose = (event) => {
      state.connected = state.caughtUp = false;
      if (event.code === 4403) { say("not allowed to watch these alerts", "refused"); return; }
      say(state.paused ? "paused" : "reconnecting…", state.paused ? "paused" : "reconnecting");
      if (!state.paused) setTimeout(() => { connect(); askStream(); }, state.delay);
      state.delay = Math.min(state.delay * 2, 10000);
    };
  }

  state.reconnect = () => { state.paused = false; connect(); };
  JSON.parse(document.getElementById("initial-alerts").textContent).forEach((alert) => add(alert, false));
  setInterval(askStream, 60_000);
  connect();
})();
