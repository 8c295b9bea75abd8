// Predict results as people expect them: score bars for classifiers, boxes on the image for
// detectors, a mask overlay for segmenters, text for text; the raw JSON one click away.

import { h, rawJson } from "./dom.js";

const PALETTE = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"];

/** The elements of a tensor value ({tensor: {shape, contents}} or a nested list), flat. */
export function tensorOf(value) {
  if (!value) return null;
  const t = value.tensor || value;
  const contents = t.contents ?? t.data ?? t.values;
  if (!Array.isArray(contents)) return null;
  return { shape: t.shape || [], flat: contents.flat(Infinity), dtype: t.dtype || "" };
}

/** {label: score} pairs from a classifier's structured output, best first; null if none. */
export function scoresOf(structured) {
  if (!structured) return null;
  let pairs = null;
  if (Array.isArray(structured) && structured.length && structured.every((c) => c && typeof c.value === "number")) {
    pairs = structured.map((c) => [c.name || c.id || c.label, c.value]); // Clarifai concepts
  } else if (structured.scores && typeof structured.scores === "object" && !Array.isArray(structured.scores)) {
    pairs = Object.entries(structured.scores);
  } else if (typeof structured.label === "string" && typeof structured.score === "number") {
    pairs = [[structured.label, structured.score]];
  }
  if (!pairs) return null;
  return pairs.filter(([, s]) => typeof s === "number").sort((a, b) => b[1] - a[1]);
}

function scoreBars(pairs, top) {
  return h("div.classifier", {},
    h("div.result-label", {}, top),
    h("ul.bars", {}, pairs.map(([label, score]) => h("li", {},
      h("span.bar-label", {}, label),
      h("span.bar", {}, h("span.fill", { style: `width:${Math.max(0, Math.min(1, score)) * 100}%` })),
      h("span.bar-score", {}, score.toFixed(3))))));
}

function isBox(b) {
  return Array.isArray(b) && b.length === 4 && b.every((x) => typeof x === "number");
}

/** A colour per label: its index among the card's labels, else a hash of its text. */
function colorOf(label, labels) {
  let index = labels.indexOf(label);
  if (index < 0) index = [...String(label)].reduce((n, c) => (n * 31 + c.charCodeAt(0)) >>> 0, 7);
  return PALETTE[index % PALETTE.length];
}

/** A canvas holding `image` scaled up by a whole factor (crisp pixels) to about 480 px. */
function stage(image, width, height) {
  const scale = Math.max(1, Math.min(8, Math.floor(480 / Math.max(width, height))));
  const canvas = h("canvas.overlay", { width: width * scale, height: height * scale });
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  if (image) ctx.drawImage(image.source, 0, 0, canvas.width, canvas.height);
  return { canvas, ctx, scale };
}

function detections(structured, image, labels) {
  const { canvas, ctx, scale } = stage(image, image.width, image.height);
  const found = structured.labels || [];
  const scores = structured.scores || [];
  ctx.font = "bold 14px system-ui, sans-serif";
  ctx.lineWidth = 3;
  structured.boxes.forEach((box, i) => {
    const [x0, y0, x1, y1] = box.map((v) => v * scale);
    const color = colorOf(found[i] ?? i, labels);
    ctx.strokeStyle = color;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    const text = `${found[i] ?? i}${typeof scores[i] === "number" ? " " + scores[i].toFixed(2) : ""}`;
    const top = y0 >= 20 ? y0 - 20 : y1;
    ctx.fillStyle = color;
    ctx.fillRect(x0 - 1.5, top, ctx.measureText(text).width + 8, 20);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x0 + 3, top + 15);
  });
  return h("div.detector", {},
    h("div.result-label", {}, `${structured.boxes.length} found${found.length ? ": " + found.join(", ") : ""}`),
    canvas);
}

function maskOverlay(mask, structured, image) {
  const [height, width] = mask.shape;
  const { canvas, ctx, scale } = stage(image, width, height);
  const base = ctx.getImageData(0, 0, canvas.width, canvas.height);
  const counts = new Map();
  const rgbOf = (value) => [1, 3, 5].map((k) => parseInt(PALETTE[(value - 1) % PALETTE.length].slice(k, k + 2), 16));
  mask.flat.forEach((value, p) => {
    counts.set(value, (counts.get(value) || 0) + 1);
    if (!value) return; // 0 = background, left as it is
    const rgb = rgbOf(value);
    const [row, col] = [Math.floor(p / width), p % width];
    for (let dy = 0; dy < scale; dy++) {
      for (let dx = 0; dx < scale; dx++) {
        const q = ((row * scale + dy) * canvas.width + col * scale + dx) * 4;
        for (let c = 0; c < 3; c++) base.data[q + c] = image ? (base.data[q + c] + 2 * rgb[c]) / 3 : rgb[c];
        base.data[q + 3] = 255;
      }
    }
  });
  ctx.putImageData(base, 0, 0);
  const labels = (structured && structured.labels) || [];
  const legend = [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([value, n]) =>
    h("li", {}, h("span.swatch", { style: `background:${value ? PALETTE[(value - 1) % PALETTE.length] : "transparent"}` }),
      `${labels[value] ?? value}: ${n} px`));
  const covered = mask.flat.length - (counts.get(0) || 0);
  return h("div.segmenter", {},
    h("div.result-label", {}, `${((100 * covered) / Math.max(1, mask.flat.length)).toFixed(1)}% ${labels[1] || "marked"}`),
    canvas, h("ul.legend", {}, legend));
}

function findMask(outputs) {
  for (const [name, value] of Object.entries(outputs || {})) {
    const t = tensorOf(value);
    if (t && t.shape.length === 2 && (/mask|seg/i.test(name) || /int/i.test(t.dtype))) return t;
  }
  return null;
}

/** The element showing a Predict result; `image` is the picture the request sent, if any. */
export function renderResult(result, card, image) {
  const s = result.structured;
  let main = null;
  const mask = findMask(result.outputs);
  if (s && Array.isArray(s.boxes) && s.boxes.every(isBox) && image) main = detections(s, image, card.labels || []);
  else if (mask) main = maskOverlay(mask, s, image);
  else if (scoresOf(s)) {
    const pairs = scoresOf(s);
    main = scoreBars(pairs, (s && typeof s.label === "string" && s.label) || pairs[0][0]);
  } else if (s && typeof s.text === "string") main = h("div.result-text", {}, s.text);
  else if (typeof s === "string") main = h("div.result-text", {}, s);
  else main = h("pre.result-json", {}, JSON.stringify(s ?? result.outputs, null, 2));
  return h("div.result", { dataset: { requestId: result.request_id || "" } }, main, rawJson(result));
}
