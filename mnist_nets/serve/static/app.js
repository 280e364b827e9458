// The draw-a-digit page: pointer events (mouse, pen and touch alike) draw black ink on
// the white 280x280 pad; the pad is sent as a PNG to /api/predict while drawing (at most
// every THROTTLE_MS) and when a stroke ends; the answer fills the 28x28 "seen" canvas
// and one card of ten bars per framework.
"use strict";

const PEN = 20; // stroke width on the 280-pixel pad: MNIST's strokes after its 20x20 scaling
const THROTTLE_MS = 250;

const pad = document.getElementById("pad");
const padCtx = pad.getContext("2d");
const seen = document.getElementById("seen");
const seenCtx = seen.getContext("2d");
const results = document.getElementById("results");
const statusLine = document.getElementById("status");

let info = null; // GET /api/info: model, dataset, classes, frameworks
let drawing = false;
let last = null;
let inked = false;
let sent = 0; // the number of the latest request; answers to older ones are dropped
let timer = null;

function showStatus(text, isError = false) {
  statusLine.textContent = text;
  statusLine.classList.toggle("error", isError);
}

function setState(state) {
  // "waiting" while a request is out, "done" once its answer is shown, "error", or "empty"
  results.dataset.state = state;
}

function clearPad() {
  padCtx.fillStyle = "#fff";
  padCtx.fillRect(0, 0, pad.width, pad.height);
  seenCtx.fillStyle = "#000";
  seenCtx.fillRect(0, 0, seen.width, seen.height);
  inked = false;
  sent += 1; // an answer still on its way belongs to the old drawing
  clearTimeout(timer);
  timer = null;
  if (info) buildCards();
  showStatus("");
  setState("empty");
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return {
    x: ((event.clientX - box.left) * pad.width) / box.width,
    y: ((event.clientY - box.top) * pad.height) / box.height,
  };
}

function ink(from, to) {
  padCtx.strokeStyle = "#000";
  padCtx.fillStyle = "#000";
  padCtx.lineWidth = PEN;
  padCtx.lineCap = "round";
  padCtx.lineJoin = "round";
  if (from.x === to.x && from.y === to.y) {
    padCtx.beginPath();
    padCtx.arc(to.x, to.y, PEN / 2, 0, 2 * Math.PI);
    padCtx.fill();
  } else {
    padCtx.beginPath();
    padCtx.moveTo(from.x, from.y);
    padCtx.lineTo(to.x, to.y);
    padCtx.stroke();
  }
  inked = true;
}

pad.addEventListener("pointerdown", (event) => {
  if (event.pointerType === "mouse" && event.button !== 0) return;
  event.preventDefault();
  pad.setPointerCapture(event.pointerId);
  drawing = true;
  last = point(event);
  ink(last, last);
});

pad.addEventListener("pointermove", (event) => {
  if (!drawing) return;
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
  for (const e of events.length ? events : [event]) {
    const p = point(e);
    ink(last, p);
    last = p;
  }
  if (timer === null) timer = setTimeout(predict, THROTTLE_MS);
});

function endStroke() {
  if (!drawing) return;
  drawing = false;
  clearTimeout(timer);
  predict();
}
pad.addEventListener("pointerup", endStroke);
pad.addEventListener("pointercancel", endStroke);
pad.addEventListener("lostpointercapture", endStroke);
document.getElementById("clear").addEventListener("click", clearPad);

async function predict() {
  timer = null;
  if (!inked) return;
  const id = ++sent;
  results.dataset.sent = String(id);
  setState("waiting");
  const png = await new Promise((resolve) => pad.toBlob(resolve, "image/png"));
  let response;
  let answer;
  try {
    response = await fetch("/api/predict", {
      method: "POST",
      headers: { "Content-Type": "image/png" },
      body: png,
    });
    answer = await response.json();
  } catch (err) {
    if (id !== sent) return;
    showStatus(`No answer from the server (${err.message}); is mnist-nets serve running?`, true);
    setState("error");
    return;
  }
  if (id !== sent) return;
  results.dataset.answered = String(id);
  if (!response.ok) {
    showStatus(answer.error || `HTTP ${response.status}`, true);
    setState("error");
    return;
  }
  showStatus("");
  showSeen(answer.image);
  showPredictions(answer.predictions);
  setState("done");
}

function showSeen(image) {
  // light ink on black, as the networks get it
  const pixels = seenCtx.createImageData(28, 28);
  image.flat().forEach((v, i) => {
    const g = Math.round(Math.min(Math.max(v, 0), 1) * 255);
    pixels.data.set([g, g, g, 255], 4 * i);
  });
  seenCtx.putImageData(pixels, 0, 0);
}

function element(tag, className, text) {
  const el = document.createElement(tag);
  if (className) el.className = className;
  if (text !== undefined) el.textContent = text;
  return el;
}

function buildCards() {
  results.replaceChildren();
  for (const fw of info.frameworks) {
    const card = element("article", "framework");
    card.dataset.framework = fw.name;
    const title = element("h3");
    title.append(element("span", "name", fw.label), element("span", "top", "–"));
    card.append(title, element("div", "meta", fw.device));
    info.classes.forEach((name) => {
      const bar = element("div", "bar");
      const track = element("span", "track");
      track.append(element("span", "fill"));
      bar.append(element("span", "label", name), track, element("span", "pct", ""));
      card.append(bar);
    });
    results.append(card);
  }
}

function showPredictions(predictions) {
  for (const fw of info.frameworks) {
    const card = results.querySelector(`[data-framework="${fw.name}"]`);
    const answer = predictions[fw.name];
    card.querySelector(".error")?.remove();
    if (!answer || answer.error) {
      card.dataset.top = "";
      card.querySelector(".top").textContent = "?";
      card.append(element("div", "error", answer ? answer.error : "no answer"));
      continue;
    }
    const probs = answer.probabilities;
    const best = probs.indexOf(Math.max(...probs));
    card.dataset.top = info.classes[best];
    card.querySelector(".top").textContent = info.classes[best];
    const ms = (1000 * answer.seconds).toFixed(answer.seconds < 0.01 ? 2 : 1);
    card.querySelector(".meta").textContent = `${fw.device} · ${ms} ms`;
    card.querySelectorAll(".bar").forEach((bar, i) => {
      bar.classList.toggle("best", i === best);
      bar.querySelector(".fill").style.width = `${(100 * probs[i]).toFixed(1)}%`;
      bar.querySelector(".pct").textContent = `${(100 * probs[i]).toFixed(1)} %`;
    });
  }
}

async function start() {
  clearPad();
  try {
    const response = await fetch("/api/info");
    info = await response.json();
  } catch (err) {
    showStatus(`Cannot reach the server (${err.message}); is mnist-nets serve running?`, true);
    return;
  }
  const fashion = info.dataset === "fashion-mnist";
  document.getElementById("what").textContent = fashion ? "piece of clothing" : "digit";
  if (fashion) {
    document.getElementById("seen-note").textContent =
      "Scaled into 28x28 and centred by its box, as Fashion-MNIST's images were.";
  }
  const names = info.frameworks.map((f) => f.label).join(", ");
  document.getElementById("about").textContent =
    `${info.model} weights trained on ${fashion ? "Fashion-MNIST" : "MNIST"}, ` +
    `predicting in ${names}. Draw with the mouse or a finger.`;
  buildCards();
  results.dataset.ready = "true";
}

start();
