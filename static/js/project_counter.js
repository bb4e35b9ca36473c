"use strict";
// A citizen-science project's counters, live: the portal sends them on connect and after
// classifications (see labeling.consumers); a submit's answer carries them too. Counts that only
// grow keep the highest seen, so counters read earlier but delivered later never step back.
window.followProjectCounter = (socketPath) => {
  const growing = new Set(["classifications", "retired", "subjects", "mine"]);
  const show = (counts) => {
    for (const [name, value] of Object.entries(counts)) {
      document.querySelectorAll(`[data-live-count="${name}"]`).forEach((el) => {
        el.textContent = growing.has(name) ? Math.max(Number(el.textContent) || 0, value) : value;
      });
    }
  };
  let delay = 500;
  const follow = () => {
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${window.location.host}${socketPath}`);
    socket.onopen = () => { delay = 500; };
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.counts) show(message.counts);
    };
    socket.onclose = (event) => {
      if (event.code === 4404) return;  // the project is not open to this visitor (any more)
      setTimeout(follow, delay);
      delay = Math.min(delay * 2, 15000);
    };
  };
  follow();
  return show;
};
