// Follows a job over its websocket: the server sends the current state on connect and each
// progress report after, so a reconnect simply picks up where the job is now.
(function () {
  const section = document.getElementById("job");
  const bar = document.querySelector("#job-progress .bar");
  const progress = document.getElementById("job-progress");
  const connection = document.getElementById("job-connection");
  const scheme = window.location.protocol === "https:" ? "wss" : "ws";
  let finished = false;
  let succeeded = false;

  function show(state) {
    bar.style.width = `${state.percent}%`;
    progress.setAttribute("aria-valuenow", state.percent);
    document.getElementById("job-percent").textContent = state.percent;
    const status = document.getElementById("job-status");
    status.textContent = state.status;
    status.className = `status ${state.status}`;
    document.getElementById("job-message").textContent = state.message;
    const result = document.getElementById("job-result");
    const { files = [], history, ...summary } = state.result || {};
    if (history && window.Plotly) drawCurve(history);
    document.getElementById("job-files").replaceChildren(...files.map((file) => {
      const row = document.createElement("tr");
      row.className = file.status;
      for (const text of [file.file, file.status, file.reason]) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }));
    result.replaceChildren(...Object.entries(summary).flatMap(([key, value]) => {
      const term = document.createElement("dt");
      term.textContent = key;
      const detail = document.createElement("dd");
      detail.textContent = value;
      return [term, detail];
    }));
    finished = state.status === "succeeded" || state.status === "failed";
    succeeded = state.status === "succeeded";
  }

  // A training job's history, epoch by epoch: losses on the left axis, accuracy (where the
  // model has one: a generator has none) on the right.
  function drawCurve(history) {
    const epochs = history.map((row) => row.epoch);
    const line = (key, name, axis) => ({ x: epochs, y: history.map((row) => row[key]), name, yaxis: axis,
                                         mode: "lines+markers" });
    const accuracy = history.some((row) => row.val_accuracy != null);
    Plotly.react("job-curve", [
      line("train_loss", "training loss", "y"), line("val_loss", "validation loss", "y"),
      ...(accuracy ? [line("val_accuracy", "validation accuracy", "y2")] : []),
    ], {
      xaxis: { title: { text: "epoch" }, dtick: 1 }, yaxis: { title: { text: "loss" } },
      ...(accuracy ? { yaxis2: { title: { text: "accuracy" }, overlaying: "y", side: "right", range: [0, 1],
                                 dtick: 0.2, showgrid: false } } : {}),
      legend: { orientation: "h" }, margin: { l: 60, r: 60, t: 20, b: 50 }, height: 320,
    }, { displayModeBar: false, responsive: true });
  }

  function connect(delay) {
    const socket = new WebSocket(`${scheme}://${window.location.host}${section.dataset.socket}`);
    socket.onopen = () => { connection.textContent = "live"; delay = 500; };
    socket.onmessage = (event) => {
      show(JSON.parse(event.data));
      if (finished) socket.close();
    };
    socket.onclose = (event) => {
      if (succeeded && section.dataset.reloadWhenDone) { window.location.reload(); return; }  // the page shows the result
      if (finished) { connection.textContent = "finished"; return; }
      if (event.code === 4403) { connection.textContent = "not allowed to watch this job"; return; }
      connection.textContent = "reconnecting…";
      setTimeout(() => connect(Math.min(delay * 2, 10000)), delay);
    };
  }
  connect(500);
})();
