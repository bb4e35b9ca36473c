// Fills the health panel from /healthz: one line per part, green or red with the reason.
(function () {
  const url = document.currentScript.dataset.url;
  const list = document.getElementById("health");
  const describe = {
    postgres: (p) => `PostgreSQL ${p.version}, pgvector ${p.pgvector}`,
    redis: (p) => `Redis ${p.version}`,
    workers: (p) => Object.entries(p.queues).map(([q, hosts]) => `${q}: ${hosts.length} worker${hosts.length === 1 ? "" : "s"}`).join(", "),
  };
  fetch(url, { headers: { Accept: "application/json" } })
    .then((response) => response.json())
    .then((report) => {
      list.replaceChildren(...Object.entries(report.parts).map(([name, part]) => {
        const item = document.createElement("li");
        item.className = part.ok ? "ok" : "down";
        item.textContent = `${name}: ${part.ok ? describe[name](part) : part.error}`;
        return item;
      }));
    })
    .catch((error) => { list.innerHTML = `<li class="down">health check failed: ${error}</li>`; });
})();
