// Tonight's plan, live: the websocket says when a plan is made or a telescope reports, and
// the page asks for the chart and the summary again.
(function () {
  const gantt = document.getElementById("gantt");
  const empty = document.getElementById("gantt-empty");
  const summary = document.getElementById("plan-summary");
  const status = document.getElementById("night-connection");
  let delay = 500;

  async function redraw() {
    const response = await fetch(gantt.dataset.chart, { headers: { Accept: "application/json" } });
    if (!response.ok) return;
    const night = await response.json();
    summary.textContent = night.summary;
    gantt.dataset.plan = night.plan || "";
    empty.hidden = Boolean(night.figure);
    if (night.figure) {
      const figure = JSON.parse(night.figure);
      Plotly.react(gantt, figure.data, figure.layout, { responsive: true, displaylogo: false });
    } else if (gantt.data) {
      Plotly.purge(gantt);
    }
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}${gantt.dataset.socket}`);
    socket.onopen = () => { status.textContent = "live"; delay = 500; };
    socket.onmessage = () => redraw();
    socket.onclose = (event) => {
      if (event.code === 4403) { status.textContent = "not allowed to watch this night"; return; }
      status.textContent = "reconnecting…";
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
})();
