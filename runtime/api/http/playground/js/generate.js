// Generate: the model's items over SSE (fetch streaming), tokens appended as they arrive.

import { modelPath, streamEvents } from "./api.js";
import { fill, h, rawJson } from "./dom.js";
import { readInputs } from "./form.js";

/** The text one Generate item adds after `sofar`: its token as it is (tokens carry their own
 * spaces), else its text (a word or a segment: a space goes between two), else its JSON. */
export function pieceOf(item, sofar = "") {
  const s = item.structured;
  if (s && typeof s.token === "string") return s.token;
  if (s && typeof s.text === "string") {
    const joined = !sofar || /\s$/.test(sofar) || /^[\s.,;:!?)]/.test(s.text);
    return joined ? s.text : ` ${s.text}`;
  }
  if (typeof s === "string") return s;
  for (const value of Object.values(item.outputs || {})) {
    if (value && typeof value.text === "string") return value.text;
  }
  return s === undefined || s === null ? "" : `${JSON.stringify(s)}\n`;
}

/** Run Generate with the form's inputs, showing the text grow token by token until done. */
export async function runGenerate(card, fields, params, out) {
  const body = { inputs: await readInputs(fields) };
  const parameters = params.value();
  if (parameters && Object.keys(parameters).length) body.parameters = parameters;
  const text = h("span", { id: "generate-output" });
  const prompt = Object.values(body.inputs).find((v) => v && typeof v.text === "string");
  const count = h("span.muted", {}, "0 items");
  const items = [];
  const abort = new AbortController();
  const stop = h("button", { type: "button", onclick: () => abort.abort() }, "Stop");
  const log = h("div.log");
  fill(out, h("div.generate", {}, h("div.generate-output", {}, prompt ? h("span.prompt", {}, prompt.text) : null, text), h("div.generate-bar", {}, count, " ", stop), log));
  const started = performance.now();
  const finish = (label) => {
    stop.remove();
    count.textContent = `${items.length} items, ${label} in ${((performance.now() - started) / 1000).toFixed(1)} s`;
    fill(log, rawJson(items, "Raw JSON (every item)"));
  };
  try {
    await streamEvents(`${modelPath(card.name, card.version)}/generate`, body, (event, data) => {
      if (event === "error") {
        items.push({ error: data });
        out.append(h("p.error", {}, `item failed: ${data.error || JSON.stringify(data)}`));
      } else if (event !== "done") {
        items.push(data);
        text.textContent += pieceOf(data, text.textContent);
        count.textContent = `${items.length} items…`;
      }
    }, abort.signal);
    finish("done");
  } catch (error) {
    if (error.name !== "AbortError") throw error;
    finish("stopped");
  }
}
