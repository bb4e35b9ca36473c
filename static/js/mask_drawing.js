// The repair page's drawing layer: lines (as wide as asked, in frame pixels) and boxes dragged
// over the frame's preview, kept as {"lines": [[x0, y0, x1, y1, width]], "boxes": [[x0, y0, x1, y1]]}
// in 0-based pixels of the frame's array — the shape the server and the API read. The preview
// is binned by `data-factor` and shown north up (the array's first row at the bottom).
(function () {
  const holder = document.getElementById("mask-drawing");
  if (!holder) return;
  const image = document.getElementById("repair-preview");
  const canvas = document.getElementById("mask-canvas");
  const field = document.querySelector("input[name=shapes]");
  const tool = document.getElementById("mask-tool");
  const widthInput = document.getElementById("mask-width");
  const summary = document.getElementById("mask-summary");
  const factor = Number(holder.dataset.factor);
  const shapes = { lines: [], boxes: [] };
  const order = [];
  let start = null;

  function framePoint(event) {
    const box = canvas.getBoundingClientRect();
    const across = (event.clientX - box.left) / box.width;
    const down = (event.clientY - box.top) / box.height;
    const width = image.naturalWidth * factor;
    const height = image.naturalHeight * factor;
    return [Math.round(across * width * 10) / 10, Math.round((1 - down) * height * 10) / 10];
  }

  function canvasPoint(point) {
    return [point[0] / factor, canvas.height - point[1] / factor];
  }

  function draw(preview) {
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const context = canvas.getContext("2d");
    context.clearRect(0, 0, canvas.width, canvas.height);
    context.strokeStyle = context.fillStyle = "rgba(255, 40, 40, 0.55)";
    context.lineCap = "round";
    const lines = shapes.lines.concat(preview && preview.line ? [preview.line] : []);
    const boxes = shapes.boxes.concat(preview && preview.box ? [preview.box] : []);
    for (const [x0, y0, x1, y1, width] of lines) {
      const [a, b] = [canvasPoint([x0, y0]), canvasPoint([x1, y1])];
      context.lineWidth = Math.max(width / factor, 1);
      context.beginPath();
      context.moveTo(a[0], a[1]);
      context.lineTo(b[0], b[1]);
      context.stroke();
    }
    for (const [x0, y0, x1, y1] of boxes) {
      const [a, b] = [canvasPoint([x0, y0]), canvasPoint([x1, y1])];
      context.fillRect(Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1]));
    }
  }

  function shapeTo(end) {
    if (tool.value === "box") return { box: [start[0], start[1], end[0], end[1]] };
    return { line: [start[0], start[1], end[0], end[1], Math.max(Number(widthInput.value) || 1, 1)] };
  }

  function changed() {
    field.value = JSON.stringify(shapes);
    const count = shapes.lines.length + shapes.boxes.length;
    summary.textContent = count
      ? `${shapes.lines.length} line(s) and ${shapes.boxes.length} box(es) drawn.`
      : "Nothing drawn. Drag across the frame to draw.";
    if (count) document.querySelector("input[name=mask_source][value=drawn]").checked = true;
    draw();
  }

  canvas.addEventListener("pointerdown", (event) => {
    start = framePoint(event);
    canvas.setPointerCapture(event.pointerId);
  });
  canvas.addEventListener("pointermove", (event) => {
    if (start) draw(shapeTo(framePoint(event)));
  });
  canvas.addEventListener("pointerup", (event) => {
    if (!start) return;
    const shape = shapeTo(framePoint(event));
    if (shape.box) shapes.boxes.push(shape.box);
    else shapes.lines.push(shape.line);
    order.push(shape.box ? "boxes" : "lines");
    start = null;
    changed();
  });
  document.getElementById("mask-undo").addEventListener("click", () => {
    if (order.length) shapes[order.pop()].pop();
    changed();
  });
  document.getElementById("mask-clear").addEventListener("click", () => {
    shapes.lines.length = shapes.boxes.length = order.length = 0;
    changed();
  });
  if (image.complete) draw();
  else image.addEventListener("load", () => draw());
})();
