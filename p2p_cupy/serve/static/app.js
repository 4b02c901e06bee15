// The p2p serve page: draw on the canvas, and after each stroke the drawing is sent to
// POST /api/translate; the answer (output, time, patch map, activations) is shown.
// window.p2p exposes the state a browser test waits on (ready, translations, last).
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("drawing");
const ctx = canvas.getContext("2d");
const state = { info: null, tool: null, color: [0, 0, 0], size: 8, busy: false,
                again: false, last: null };
window.p2p = { ready: false, busy: false, translations: 0, last: null, error: null };

function rgb(c) { return `rgb(${c[0]},${c[1]},${c[2]})`; }

// --- drawing -----------------------------------------------------------------------------
// Squares at integer pixels, never anti-aliased lines: a label map must hold only the
// palette's colors (a blended edge pixel would be a class that does not exist).
function stamp(x, y) {
  const s = state.size, half = Math.floor(s / 2);
  ctx.fillRect(Math.round(x) - half, Math.round(y) - half, s, s);
}

function strokeTo(from, to) {
  const steps = Math.max(1, Math.ceil(Math.hypot(to.x - from.x, to.y - from.y)));
  for (let i = 0; i <= steps; i++) {
    stamp(from.x + (to.x - from.x) * i / steps, from.y + (to.y - from.y) * i / steps);
  }
}

function canvasPoint(event) {
  const r = canvas.getBoundingClientRect();
  return { x: (event.clientX - r.left) * canvas.width / r.width,
           y: (event.clientY - r.top) * canvas.height / r.height };
}

let drag = null;   // {start, last, saved} while the pointer is down
canvas.addEventListener("pointerdown", (event) => {
  canvas.setPointerCapture(event.pointerId);
  const p = canvasPoint(event);
  ctx.fillStyle = state.tool === "eraser" ? "#fff" : rgb(state.color);
  drag = { start: p, last: p, saved: ctx.getImageData(0, 0, canvas.width, canvas.height) };
  if (state.tool !== "rectangle") stamp(p.x, p.y);
});
canvas.addEventListener("pointermove", (event) => {
  if (!drag) return;
  const p = canvasPoint(event);
  if (state.tool === "rectangle") {
    ctx.putImageData(drag.saved, 0, 0);
    fillRectBetween(drag.start, p);
  } else {
    strokeTo(drag.last, p);
  }
  drag.last = p;
});
function endStroke(event) {
  if (!drag) return;
  if (state.tool === "rectangle") {
    ctx.putImageData(drag.saved, 0, 0);
    fillRectBetween(drag.start, canvasPoint(event));
  }
  drag = null;
  requestTranslation();
}
canvas.addEventListener("pointerup", endStroke);
canvas.addEventListener("pointercancel", endStroke);

function fillRectBetween(a, b) {
  const x0 = Math.round(Math.min(a.x, b.x)), y0 = Math.round(Math.min(a.y, b.y));
  const x1 = Math.round(Math.max(a.x, b.x)), y1 = Math.round(Math.max(a.y, b.y));
  ctx.fillRect(x0, y0, Math.max(1, x1 - x0), Math.max(1, y1 - y0));
}

function clearCanvas() {
  const info = state.info;
  // A label map starts as its first class (background), a sketch as white paper.
  ctx.fillStyle = info && info.classes ? rgb(info.classes[0].color) : "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

function drawImageFitted(img) {
  // Uploads are resized to the model's input size, as p2p translate --fit resize does.
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
  requestTranslation();
}

// --- tools -------------------------------------------------------------------------------
function setTool(name) {
  state.tool = name;
  for (const b of $("tool-buttons").children) {
    b.setAttribute("aria-checked", String(b.dataset.tool === name));
  }
}

function setColor(color, button) {
  state.color = color;
  for (const b of $("palette").children) b.setAttribute("aria-checked", String(b === button));
}

function buildTools(info) {
  const tools = info.classes ? [["rectangle", "Rectangle"], ["brush", "Brush"]]
                             : [["pen", "Pen"], ["eraser", "Eraser"]];
  for (const [name, label] of tools) {
    const b = document.createElement("button");
    b.type = "button"; b.textContent = label; b.dataset.tool = name;
    b.setAttribute("role", "radio");
    b.addEventListener("click", () => setTool(name));
    $("tool-buttons").appendChild(b);
  }
  setTool(tools[0][0]);
  if (info.classes) {
    for (const c of info.classes) {
      const b = document.createElement("button");
      b.type = "button"; b.title = `class ${c.index}: ${c.name}`;
      b.innerHTML = `<span class="swatch" style="background:${rgb(c.color)}"></span>`;
      b.appendChild(document.createTextNode(c.name));
      b.addEventListener("click", () => setColor(c.color, b));
      $("palette").appendChild(b);
    }
    const first = $("palette").children[Math.min(1, info.classes.length - 1)];
    setColor(info.classes[Math.min(1, info.classes.length - 1)].color, first);
  } else {
    state.color = [0, 0, 0];
    state.size = 3; $("brush-size").value = 3; $("brush-size-value").textContent = "3";
  }
  if (info.examples > 0) {
    $("examples-box").hidden = false;
    for (let i = 0; i < info.examples; i++) {
      const img = document.createElement("img");
      img.src = `/api/examples/${i}.png`; img.alt = `starting drawing ${i + 1}`;
      // A click before the thumbnail has arrived draws it once it has.
      img.addEventListener("click", () => img.complete && img.naturalWidth ? drawImageFitted(img)
        : img.addEventListener("load", () => drawImageFitted(img), { once: true }));
      $("examples").appendChild(img);
    }
  }
}

$("brush-size").addEventListener("input", (e) => {
  state.size = Number(e.target.value); $("brush-size-value").textContent = e.target.value;
});
$("clear").addEventListener("click", () => { clearCanvas(); requestTranslation(); });
$("upload").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (!file) return;
  const img = new Image();
  img.onload = () => { drawImageFitted(img); URL.revokeObjectURL(img.src); };
  img.onerror = () => showError(`${file.name}: the browser cannot read this image`);
  img.src = URL.createObjectURL(file);
  e.target.value = "";
});
$("eval-mode").addEventListener("change", requestTranslation);
$("show-patch-map").addEventListener("change", showResult);

// --- translation -------------------------------------------------------------------------
// One request at a time; strokes that end meanwhile ask for one more when it returns.
async function requestTranslation() {
  if (state.busy) { state.again = true; return; }
  state.busy = window.p2p.busy = true;
  $("status").textContent = "Translating…";
  $("status").classList.remove("error");
  try {
    const response = await fetch("/api/translate", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ image: canvas.toDataURL("image/png"),
                             eval: $("eval-mode").checked, inside: true }) });
    const result = await response.json();
    if (!response.ok) throw new Error(result.error || `HTTP ${response.status}`);
    state.last = result;
    window.p2p.last = result;
    window.p2p.translations += 1;
    showResult();
  } catch (err) {
    showError(err.message);
  } finally {
    state.busy = window.p2p.busy = false;
    if (state.again) { state.again = false; requestTranslation(); }
  }
}

function showError(message) {
  window.p2p.error = message;
  $("status").textContent = message;
  $("status").classList.add("error");
}

function showResult() {
  const r = state.last;
  if (!r) return;
  const patch = $("show-patch-map").checked && r.patch_map;
  $("output").src = patch ? r.patch_map : r.image;
  $("status").textContent = `G took ${r.ms.toFixed(1)} ms (${r.eval ? "eval mode" :
    "batch statistics, dropout on"})`;
  $("patch-summary").textContent = r.patch_mean_real === undefined ? "" :
    `D's mean belief that this output is real: ${(100 * r.patch_mean_real).toFixed(0)}%`;
  const body = $("activations").querySelector("tbody");
  body.innerHTML = "";
  const fmt = (v) => v === null || v === undefined ? "" : Number(v).toPrecision(3);
  for (const a of r.activations || []) {
    const row = body.insertRow();
    for (const v of [a.name, a.op, a.shape.join("×"), fmt(a.mean), fmt(a.std),
                     fmt(a.zero_fraction), fmt(a.saturated_fraction)]) {
      row.insertCell().textContent = v;
    }
  }
}

// --- start -------------------------------------------------------------------------------
async function start() {
  try {
    const response = await fetch("/api/info");
    const info = await response.json();
    if (!response.ok) throw new Error(info.error || `HTTP ${response.status}`);
    state.info = info;
    canvas.width = canvas.height = info.size;
    $("model-info").textContent = `${info.source}: ${info.netG} (ngf ${info.ngf}), ` +
      `${info.size}×${info.size}, ${info.mode === "labels" ?
        `label map of ${info.classes.length} classes` : "sketch"}` +
      (info.has_discriminator ? ", with its discriminator" : ", generator only");
    if (!info.has_discriminator) {
      $("show-patch-map").disabled = true;
      $("patch-toggle-row").title = "This checkpoint holds no discriminator.";
    }
    buildTools(info);
    clearCanvas();
    window.p2p.ready = true;
  } catch (err) {
    showError(`cannot load the model: ${err.message}`);
  }
}
start();
