// Try it: the form generated from a model's inputs, and a button per capability (Predict,
// Generate, Stream), with the output rendered as it arrives.

import { ApiError, call, modelPath } from "./api.js";
import { fill, h, rawJson } from "./dom.js";
import { DEFAULT_SAMPLE_RATE, fieldFor, formInputs, guessedField, jsonEditor, readInputs } from "./form.js";
import { renderResult } from "./render.js";
import { runGenerate } from "./generate.js";
import { streamPanel } from "./stream.js";

function describe(error) {
  return error instanceof ApiError ? error.describe() : error.message || String(error);
}

/** The picture the request sends (for drawing boxes or a mask on it), if any. */
function sentImage(fields) {
  const field = fields.find((f) => f.media === "image" && f.image);
  return field ? { source: field.image, width: field.image.width, height: field.image.height } : null;
}

async function runPredict(card, fields, params, out) {
  fill(out, h("p.muted", {}, "Predicting…"));
  const body = { inputs: await readInputs(fields) };
  const parameters = params.value();
  if (parameters && Object.keys(parameters).length) body.parameters = parameters;
  const started = performance.now();
  const result = await call(`${modelPath(card.name, card.version)}/predict`, { method: "POST", body });
  const ms = performance.now() - started;
  fill(out, renderResult(result, card, sentImage(fields)), h("p.muted.timing", {}, `${ms.toFixed(0)} ms`));
}

/** The Try it panel of a READY model. */
export function tryIt(card) {
  let sampleRate = DEFAULT_SAMPLE_RATE;
  const currentRate = () => sampleRate;
  const fields = formInputs(card).map((input) => (input.guessed ? guessedField : fieldFor)(input, card, currentRate));
  const params = jsonEditor("parameters", "{}", 2);
  const out = h("div.output", { id: "output", "aria-live": "polite" });
  const caps = card.capabilities && card.capabilities.length ? card.capabilities : ["predict"];
  const guard = (run) => async (event) => {
    event.preventDefault();
    const button = event.currentTarget;
    button.disabled = true;
    try {
      await run();
    } catch (error) {
      if (error.name !== "AbortError") fill(out, h("p.error", {}, describe(error)), error.body ? rawJson(error.body) : null);
    } finally {
      button.disabled = false;
    }
  };
  const buttons = h("div.actions");
  if (caps.includes("predict")) {
    buttons.append(h("button.primary", { type: "button", id: "run-predict", onclick: guard(() => runPredict(card, fields, params, out)) }, "Predict"));
  }
  if (caps.includes("generate")) {
    buttons.append(h("button.primary", { type: "button", id: "run-generate", onclick: guard(() => runGenerate(card, fields, params, out)) }, "Generate"));
  }
  const audio = fields.find((f) => f.media === "audio");
  const rate = audio
    ? h("label.inline", {}, "sample rate ", h("input", { type: "number", value: sampleRate, min: 3000, max: 192000, step: 1000, onchange: (e) => (sampleRate = Number(e.target.value) || DEFAULT_SAMPLE_RATE) }), " Hz")
    : null;
  return h("section.tryit", {},
    h("h2", {}, "Try it"),
    h("form.panel", { onsubmit: (e) => e.preventDefault() },
      fields.map((f) => f.element),
      rate,
      h("div.field", {}, h("label.field-label", {}, h("b", {}, "parameters"), h("span.muted", {}, " JSON object (e.g. {\"max_tokens\": 20})")), params.element),
      buttons,
      caps.includes("stream") ? streamPanel(card, fields, params, out, () => sampleRate) : null),
    out);
}
