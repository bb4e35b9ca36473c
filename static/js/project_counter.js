"use strict";
// A citizen-science project's counters, live: the portal sends them on connect, then after each
// classification either the counters again or what it added (see labeling.consumers).
window.followProjectCounter = (socketPath) => {
  const show = (counts) => {
    for (const [name, value] of Object.entries(counts)) {
      document.querySelectorAll(`[data-live-count="${name}"]`).forEach((el) => { el.textContent = value; });
    }
  };
  const add = (added) => {
    for (const [name, value] of Object.entries(added)) {
      document.querySelectorAll(`[data-live-count="${name}"]`).forEach((el) => {
        el.textContent = Number(el.textContent) + value;
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
      if (message.added) add(message.added);
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
