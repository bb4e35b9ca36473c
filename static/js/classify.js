"use strict";
// The classify page: the workflow's questions one at a time, answered by click or number key
// (Backspace goes back a question); the next galaxies are fetched, and their pictures loaded,
// while this one is being classified, so moving on never waits for the network.
(() => {
  const config = JSON.parse(document.getElementById("classify-config").textContent);
  const tree = config.workflow.tree;
  const csrf = document.querySelector("#classify [name=csrfmiddlewaretoken]").value;
  const $ = (id) => document.getElementById(id);
  const image = $("subject-image");
  let queue = [];        // fetched, not yet shown; their pictures are loading
  let current = null;    // the galaxy on screen: {id, image}
  let walked = [];       // [question, answer] pairs given so far
  let fetching = null;

  const held = () => [current && current.id, ...queue.map((s) => s.id)].filter(Boolean).join(",");

  function queueUp(subjects) {
    for (const subject of subjects) {
      if (subject.id === (current && current.id) || queue.some((s) => s.id === subject.id)) continue;
      new Image().src = subject.image;  // warm the browser's cache
      queue.push(subject);
    }
  }

  function refill() {
    if (fetching || queue.length >= 2) return fetching;
    fetching = fetch(`${config.next_url}?count=${2 - queue.length}&exclude=${held()}`, {credentials: "same-origin"})
      .then((response) => response.ok ? response.json() : Promise.reject(response))
      .then((data) => queueUp(data.subjects))
      .catch(() => showError("Could not reach the portal; trying again in a moment."))
      .finally(() => { fetching = null; });
    return fetching;
  }

  // After a submit the queue is topped up by the submit's own answer (one request a galaxy).
  async function nextSubject({refillAfter = true} = {}) {
    if (!queue.length) await refill();
    current = queue.shift() || null;
    walked = [];
    $("viewer-empty").hidden = Boolean(current);
    if (!current) {
      image.removeAttribute("src");
      $("viewer-empty").textContent = "You have classified every galaxy open to you here. Thank you!";
      $("question").textContent = "All done";
      $("answers").replaceChildren();
      return;
    }
    image.src = current.image;
    resetView();
    ask(tree.first);
    if (refillAfter) refill();
  }

  function ask(key) {
    const question = tree.questions[key];
    $("step").textContent = `Question ${walked.length + 1}`;
    $("question").textContent = question.text;
    $("back").disabled = walked.length === 0;
    $("answers").replaceChildren(...question.answers.map((answer, index) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.answer = answer.key;
      const kbd = document.createElement("kbd");
      kbd.textContent = String(index + 1);
      button.append(kbd, document.createTextNode(answer.label));
      button.addEventListener("click", () => choose(key, answer));
      return button;
    }));
    $("answers").dataset.question = key;
  }

  function choose(key, answer) {
    if (!current) return;
    walked.push([key, answer.key]);
    if (answer.next) ask(answer.next); else submit();
  }

  function back() {
    if (!walked.length) return;
    const [key] = walked.pop();
    ask(key);
  }

  async function submit() {
    const subject = current, answers = walked;
    $("answers").replaceChildren();
    $("question").textContent = "Saved — next galaxy";
    hideError();
    await nextSubject({refillAfter: false});
    const wanted = Math.max(0, 2 - queue.length);
    const response = await fetch(`${config.submit_url}?next=${wanted}&exclude=${held()}`, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify({subject: subject.id, workflow_version: config.workflow.version, answers}),
    }).catch(() => null);
    if (!response) { refill(); return showError("Your last answers could not be sent: check your connection."); }
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      refill();
      const wait = response.headers.get("Retry-After");
      return showError(data.detail || `The portal answered ${response.status}.` + (wait ? ` Wait ${wait} s.` : ""));
    }
    queueUp(data.next || []);
    if (!current && queue.length) nextSubject();  // "all done" was premature: more came with the answer
    showCounts({...data.progress, mine: data.mine});
    showOthers(data.others);
  }

  function showOthers(others) {
    const after = $("after");
    after.replaceChildren();
    if (!others || !others.votes) { after.hidden = true; return; }
    const heading = document.createElement("p");
    heading.textContent = `Your last galaxy — ${others.question} ${others.votes} volunteer(s) said:`;
    after.append(heading);
    for (const [answer, share] of Object.entries(others.shares)) {
      const row = document.createElement("div");
      row.className = "share";
      const bar = document.createElement("span");
      bar.className = "probability";
      bar.style.width = `${Math.round(share * 100)}%`;
      row.append(answer, bar, `${Math.round(share * 100)}%`);
      after.append(row);
    }
    if (others.model) {
      const model = document.createElement("p");
      model.className = "muted";
      const percent = (share) => `${Math.round(share * 100)}%`;
      if (others.model.shares) {  // a vote model: the share of volunteers it expected for each answer
        const expected = Object.entries(others.model.shares).map(([answer, share]) => `${answer} ${percent(share)}`);
        model.textContent = `The model ${others.model.name} expected: ${expected.join(", ")}`;
      } else {
        const confidence = others.model.confidence == null ? "" : ` (${percent(others.model.confidence)})`;
        model.textContent = `The model ${others.model.name} said: ${others.model.label}${confidence}`;
      }
      after.append(model);
    }
    after.hidden = false;
  }

  function showError(text) { $("error").textContent = text; $("error").hidden = false; }
  function hideError() { $("error").hidden = true; }

  // ---- the picture: zoom, pan, invert, brightness ------------------------------------------
  let scale = 1, x = 0, y = 0, drag = null;
  function applyView() {
    image.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    image.style.filter = `${$("invert").checked ? "invert(1) " : ""}brightness(${$("brightness").value}%)`;
  }
  function zoom(factor) { scale = Math.min(8, Math.max(1, scale * factor)); if (scale === 1) { x = 0; y = 0; } applyView(); }
  function resetView() { scale = 1; x = 0; y = 0; applyView(); }
  document.querySelectorAll("[data-zoom]").forEach((b) => b.addEventListener("click", () => zoom(Number(b.dataset.zoom))));
  document.querySelector("[data-reset]").addEventListener("click", resetView);
  $("invert").addEventListener("change", applyView);
  $("brightness").addEventListener("input", applyView);
  const viewer = $("viewer");
  viewer.addEventListener("wheel", (event) => { event.preventDefault(); zoom(event.deltaY < 0 ? 1.15 : 1 / 1.15); },
                          {passive: false});
  viewer.addEventListener("pointerdown", (event) => {
    drag = {px: event.clientX, py: event.clientY, x, y};
    viewer.setPointerCapture(event.pointerId);
  });
  viewer.addEventListener("pointermove", (event) => {
    if (!drag || scale === 1) return;
    x = drag.x + event.clientX - drag.px; y = drag.y + event.clientY - drag.py; applyView();
  });
  viewer.addEventListener("pointerup", () => { drag = null; });

  // ---- keys: 1-9 answer, Backspace back, + and - zoom, 0 fits ------------------------------
  document.addEventListener("keydown", (event) => {
    if (event.target.matches("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
    const buttons = $("answers").querySelectorAll("button");
    if (/^[1-9]$/.test(event.key) && buttons[Number(event.key) - 1]) {
      event.preventDefault();
      buttons[Number(event.key) - 1].click();
    } else if (event.key === "Backspace") {
      event.preventDefault();
      back();
    } else if (event.key === "+" || event.key === "=") zoom(1.25);
    else if (event.key === "-") zoom(0.8);
    else if (event.key === "0") resetView();
  });
  $("back").addEventListener("click", back);

  // ---- the live counter: everyone's classifications, pushed by the portal ------------------
  const showCounts = window.followProjectCounter(config.socket);

  nextSubject();
})();
