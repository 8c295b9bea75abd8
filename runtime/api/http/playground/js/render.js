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

function detections(structured, image) {
  const canvas = h("canvas.overlay", { width: image.width, height: image.height });
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = false;
  ctx.drawImage(image.source, 0, 0, image.width, image.height);
  const labels = structured.labels || [];
  const scores = structured.scores || [];
  const line = Math.max(1, Math.round(Math.max(image.width, image.height) / 150));
  ctx.font = `${Math.max(10, line * 6)}px sans-serif`;
  structured.boxes.forEach((box, i) => {
    const [x0, y0, x1, y1] = box;
    const color = PALETTE[i % PALETTE.length];
    ctx.strokeStyle = color;
    ctx.lineWidth = line;
    ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    const text = `${labels[i] ?? i}${typeof scores[i] === "number" ? " " + scores[i].toFixed(2) : ""}`;
    ctx.fillStyle = color;
    ctx.fillRect(x0, Math.max(0, y0 - line * 7), ctx.measureText(text).width + 4, line * 7);
    ctx.fillStyle = "#fff";
    ctx.fillText(text, x0 + 2, Math.max(line * 6, y0 - line));
  });
  return h("div.detector", {},
    h("div.result-label", {}, `${structured.boxes.length} found${labels.length ? ": " + labels.join(", ") : ""}`),
    canvas);
}

function maskOverlay(mask, structured, image) {
  const [height, width] = mask.shape;
  const canvas = h("canvas.overlay", { width, height });
  const ctx = canvas.getContext("2d");
  if (image) ctx.drawImage(image.source, 0, 0, width, height);
  const base = ctx.getImageData(0, 0, width, height);
  const counts = new Map();
  mask.flat.forEach((value, p) => {
    counts.set(value, (counts.get(value) || 0) + 1);
    if (!value) return; // 0 = background, left as it is
    const hex = PALETTE[(value - 1) % PALETTE.length];
    const rgb = [1, 3, 5].map((k) => parseInt(hex.slice(k, k + 2), 16));
    for (let c = 0; c < 3; c++) base.data[p * 4 + c] = image ? (base.data[p * 4 + c] + rgb[c]) / 2 : rgb[c];
    base.data[p * 4 + 3] = 255;
  });
  ctx.putImageData(base, 0, 0);
  const labels = (structured && structured.labels) || [];
  const legend = [...counts.entries()].sort((a, b) => a[0] - b[0]).map(([value, n]) =>
    h("li", {}, h("span.swatch", { style: `background:${value ? PALETTE[(value - 1) % PALETTE.length] : "#000"}` }),
      `${labels[value] ?? value}: ${n} px`));
  const covered = mask.flat.filter((v) => v).length;
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
  if (s && Array.isArray(s.boxes) && s.boxes.every(isBox) && image) main = detections(s, image);
  else if (mask) main = maskOverlay(mask, s, image);
  else if (scoresOf(s)) {
    const pairs = scoresOf(s);
    main = scoreBars(pairs, (s && typeof s.label === "string" && s.label) || pairs[0][0]);
  } else if (s && typeof s.text === "string") main = h("div.result-text", {}, s.text);
  else if (typeof s === "string") main = h("div.result-text", {}, s);
  else main = h("pre.result-json", {}, JSON.stringify(s ?? result.outputs, null, 2));
  return h("div.result", { dataset: { requestId: result.request_id || "" } }, main, rawJson(result));
}
