// The Try it form: one field per declared input (text box, image/audio picker with preview, JSON
// editor), each able to read itself into the value form of the predict body.

import { h, plain } from "./dom.js";
import { base64Of, decodeAudio, imageCanvas, pixels, sampleList } from "./media.js";

const IMAGE_WORDS = /image|img|photo|picture|pixels|frame/i;
const AUDIO_WORDS = /audio|speech|sound|wav|voice|pcm|waveform/i;
const VISION_TYPES = new Set(["classification", "object_detection", "segmentation"]);
export const DEFAULT_SAMPLE_RATE = 16000;

/** The v2 datatype name a tensor value carries ("DATA_TYPE_FLOAT32" or "float32" -> "FP32"). */
export function wireDtype(dtype) {
  const d = plain(dtype);
  const table = { float16: "FP16", float32: "FP32", float64: "FP64", bfloat16: "BF16", string: "BYTES" };
  return table[d] || d.toUpperCase() || "FP32";
}

/** "image", "audio" or "" for an input, from its name, kind, dtype/shape and the model's type. */
export function mediaOf(input, modelType) {
  const kind = input.kind || "tensor";
  const type = plain(modelType);
  const shape = input.shape || [];
  if (kind === "bytes") {
    if (AUDIO_WORDS.test(input.name) || type === "speech_recognition") return "audio";
    if (IMAGE_WORDS.test(input.name) || VISION_TYPES.has(type)) return "image";
    return "";
  }
  if (kind !== "tensor") return "";
  const d = plain(input.dtype);
  if (d === "uint8" && shape.length === 3 && (shape[2] === 3 || shape[2] === 4)) return "image";
  if (d.startsWith("float") && shape.length === 1 && (AUDIO_WORDS.test(input.name) || type === "speech_recognition")) return "audio";
  return "";
}

/** A JSON editor: a textarea that says at once whether its text parses. */
export function jsonEditor(name, initial, rows = 4) {
  const area = h("textarea.json", { name, rows, spellcheck: false }, initial);
  const status = h("span.json-status");
  const check = () => {
    try {
      JSON.parse(area.value || "null");
      area.classList.remove("invalid");
      status.textContent = "";
      return true;
    } catch (error) {
      area.classList.add("invalid");
      status.textContent = `not JSON: ${error.message}`;
      return false;
    }
  };
  area.addEventListener("input", check);
  return {
    element: h("div.json-editor", {}, area, status),
    area,
    value() {
      if (!check()) throw new Error(`${name}: ${status.textContent}`);
      return area.value.trim() ? JSON.parse(area.value) : null;
    },
  };
}

function shapeOf(value) {
  const shape = [];
  for (let v = value; Array.isArray(v); v = v[0]) shape.push(v.length);
  return shape;
}

function tensorEditor(input) {
  const shape = (input.shape || []).map((d) => (d < 0 ? 1 : d));
  const template = { dtype: wireDtype(input.dtype), shape, contents: new Array(shape.reduce((a, b) => a * b, 1)).fill(0) };
  const editor = jsonEditor(input.name, JSON.stringify(template));
  return {
    element: h("div", {}, editor.element, h("p.hint", {}, "A tensor {dtype, shape, contents}, or a nested array.")),
    async read() {
      const value = editor.value();
      if (Array.isArray(value)) {
        return { tensor: { dtype: wireDtype(input.dtype), shape: shapeOf(value), contents: value.flat(Infinity) } };
      }
      return { tensor: value };
    },
  };
}

function filePicker(input, media) {
  const accept = media === "image" ? "image/*" : media === "audio" ? "audio/*,.wav" : "";
  const picker = h("input", { type: "file", name: input.name, accept });
  const preview = h("div.preview");
  const field = { element: h("div.file-field", {}, picker, preview), picker, media, image: null, file: null };
  picker.addEventListener("change", async () => {
    const file = picker.files[0];
    field.file = file || null;
    field.image = null;
    preview.replaceChildren();
    if (!file) return;
    const url = URL.createObjectURL(file);
    if (media === "image") {
      field.image = await imageCanvas(file);
      preview.append(h("img", { src: url, alt: "preview" }));
    } else if (media === "audio") {
      preview.append(h("audio", { src: url, controls: true }));
    } else {
      preview.append(h("span.muted", {}, `${file.name} (${file.size} bytes)`));
    }
  });
  return field;
}

function requireFile(field, name) {
  if (!field.file) throw new Error(`choose a file for input '${name}'`);
  return field.file;
}

/** One field of the form for `input`: {name, element, media, read(), ...}. */
export function fieldFor(input, card, sampleRate) {
  const kind = input.kind || "tensor";
  const media = mediaOf(input, card.model_type);
  const label = h("label.field-label", {}, h("b", {}, input.name), h("span.muted", {}, ` ${kind}${input.dtype ? " " + plain(input.dtype) : ""}${input.shape && input.shape.length ? " [" + input.shape.join(", ") + "]" : ""}`));
  let field;
  if (kind === "text") {
    const area = h("textarea.text", { name: input.name, rows: 3, placeholder: `${input.name}…` });
    field = { element: area, area, read: async () => ({ text: area.value }) };
  } else if (kind === "json") {
    const editor = jsonEditor(input.name, "{}");
    field = { element: editor.element, read: async () => ({ json: editor.value() }) };
  } else if (kind === "bytes") {
    field = filePicker(input, media);
    field.read = async () => ({ bytes_b64: await base64Of(requireFile(field, input.name)) });
  } else if (media === "image") {
    field = filePicker(input, media);
    field.read = async () => {
      requireFile(field, input.name);
      const canvas = field.image;
      return { tensor: { dtype: wireDtype(input.dtype), shape: [canvas.height, canvas.width, 3], contents: pixels(canvas) } };
    };
  } else if (media === "audio") {
    field = filePicker(input, media);
    field.samples = async () => decodeAudio(requireFile(field, input.name), sampleRate());
    field.read = async () => {
      const samples = await field.samples();
      return { tensor: { dtype: wireDtype(input.dtype), shape: [samples.length], contents: sampleList(samples) } };
    };
  } else {
    field = tensorEditor(input);
  }
  field.name = input.name;
  field.input = input;
  field.media = media;
  field.element = h(`div.field.kind-${kind}`, { dataset: { input: input.name } }, label, field.element);
  return field;
}

/** The inputs a form offers: the declared ones, or a guess for a model that declares none
 * (marked `guessed`: the form then lets the user rename it and change its kind). */
export function formInputs(card) {
  if (card.inputs && card.inputs.length) return card.inputs;
  const type = plain(card.model_type);
  const format = plain(card.format);
  let guess = { name: "input", kind: "json" };
  if (type === "object_detection" || type === "segmentation" || format === "gesund") guess = { name: "image", kind: "bytes", media: "image" };
  else if (type === "speech_recognition") guess = { name: "audio", kind: "bytes", media: "audio" };
  else if (type === "classification" || type === "text_generation") guess = { name: "text", kind: "text" };
  return [{ ...guess, guessed: true }];
}

const GUESS_KINDS = { text: { kind: "text" }, image: { kind: "bytes", media: "image" }, audio: { kind: "bytes", media: "audio" }, json: { kind: "json" } };

/** A field for a model without declared inputs: its name and kind can be changed. */
export function guessedField(input, card, sampleRate) {
  const name = h("input.input-name", { value: input.name, size: 10, "aria-label": "input name" });
  const kind = h("select.input-kind", { "aria-label": "input kind" },
    Object.keys(GUESS_KINDS).map((k) => h("option", { value: k, selected: k === (input.media || input.kind) }, k)));
  const slot = h("div");
  const wrapper = {
    get name() { return name.value.trim() || input.name; },
    input: { ...input, optional: false },
    media: "",
    inner: null,
  };
  const build = () => {
    const chosen = GUESS_KINDS[kind.value];
    // The chosen media decides the picker (mediaOf reads it from the model type).
    const modelType = { image: "object_detection", audio: "speech_recognition" }[chosen.media] || card.model_type;
    const inner = fieldFor({ name: wrapper.name, kind: chosen.kind }, { ...card, model_type: modelType }, sampleRate);
    wrapper.inner = inner;
    wrapper.media = inner.media;
    slot.replaceChildren(inner.element);
  };
  kind.addEventListener("change", build);
  build();
  Object.defineProperty(wrapper, "image", { get: () => wrapper.inner.image });
  Object.defineProperty(wrapper, "file", { get: () => wrapper.inner.file });
  wrapper.read = () => wrapper.inner.read();
  wrapper.element = h("div.guessed", {},
    h("p.hint", {}, "The model declares no inputs: name one and choose its kind."),
    h("div.row", {}, h("label", {}, "name ", name), h("label", {}, "kind ", kind)),
    slot);
  return wrapper;
}

/** The `inputs` object of a request, read from every field. */
export async function readInputs(fields) {
  const inputs = {};
  for (const field of fields) {
    if (field.input.optional && field.media && !field.file) continue;
    inputs[field.name] = await field.read();
  }
  return inputs;
}
