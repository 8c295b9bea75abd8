// Stream: a WebSocket to /api/v1/models/{name}/stream. Audio goes out in 0.1 s chunks (from a
// file, or live from the microphone) and the transcript updates with every result.

import { ApiError, modelPath, socketUrl } from "./api.js";
import { fill, h, rawJson } from "./dom.js";
import { readInputs, wireDtype } from "./form.js";
import { captureMicrophone, sampleList } from "./media.js";

export const CHUNK_SECONDS = 0.1;

/** A stream session: open, send items, end, with each result passed to `onResult`. */
class StreamSession {
  constructor(card, onResult, onClose) {
    this.socket = new WebSocket(socketUrl(`${modelPath(card.name, card.version)}/stream`));
    this.sent = 0;
    this.opened = new Promise((resolve, reject) => {
      this.socket.onopen = resolve;
      this.socket.onerror = () => reject(new Error("the stream's WebSocket failed to open"));
    });
    this.closed = new Promise((resolve) => {
      this.socket.onclose = (event) => {
        onClose(event);
        resolve(event);
      };
    });
    this.socket.onmessage = (event) => onResult(JSON.parse(event.data));
  }

  send(message) {
    if (this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
      this.sent += 1;
    }
  }

  end() {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify({ end: true }));
  }
}

function transcriptView() {
  const text = h("div.transcript", { id: "transcript" });
  const status = h("span.muted.stream-status");
  const results = [];
  const log = h("div.log");
  return {
    element: h("div.stream-output", {}, text, status, log),
    onResult(result) {
      results.push(result);
      if (result.error) {
        log.before(h("p.error", {}, `item ${result.index ?? ""} failed: ${result.error.error || result.error.message || JSON.stringify(result.error)}`));
        return;
      }
      const s = result.structured;
      text.textContent = s && typeof s.text === "string" ? s.text : JSON.stringify(s ?? result.outputs);
      text.classList.toggle("final", Boolean(s && s.final));
      status.textContent = `${results.length} results${s && s.final ? " (final)" : "…"}`;
    },
    onClose(event) {
      const how = event.code === 1000 ? "stream closed" : `stream closed: code ${event.code} ${event.reason || ""}`;
      status.textContent = `${results.length} results, ${how}`;
      fill(log, rawJson(results, "Raw JSON (every result)"));
    },
  };
}

function withParameters(message, params, first) {
  const parameters = params.value();
  if (first && parameters && Object.keys(parameters).length) message.parameters = parameters;
  return message;
}

async function streamFile(card, audio, params, out) {
  const samples = await audio.samples();
  const view = transcriptView();
  fill(out, view.element);
  const session = new StreamSession(card, (r) => view.onResult(r), (e) => view.onClose(e));
  await session.opened;
  const chunk = Math.round(CHUNK_SECONDS * audio.sampleRate());
  for (let start = 0; start < samples.length; start += chunk) {
    const piece = samples.subarray(start, start + chunk);
    const value = { tensor: { dtype: wireDtype(audio.input.dtype), shape: [piece.length], contents: sampleList(piece) } };
    session.send(withParameters({ inputs: { [audio.name]: value } }, params, start === 0));
    await new Promise((resolve) => setTimeout(resolve, 20)); // a steady trickle, like live audio
  }
  session.end();
  await session.closed;
}

/** The stream controls under the form: file and microphone for audio, else send-per-click. */
export function streamPanel(card, fields, params, out, sampleRate) {
  const audio = fields.find((f) => f.media === "audio" && f.samples); // PCM samples to chunk
  const show = (error) => out.append(h("p.error", {}, error instanceof ApiError ? error.describe() : error.message || String(error)));
  if (audio) {
    audio.sampleRate = sampleRate;
    let stopMic = null;
    let session = null;
    const mic = h("button", { type: "button", id: "stream-mic" }, "Microphone");
    mic.addEventListener("click", async () => {
      if (stopMic) {
        mic.textContent = "Microphone";
        await stopMic();
        stopMic = null;
        session.end();
        return;
      }
      try {
        const view = transcriptView();
        fill(out, view.element);
        session = new StreamSession(card, (r) => view.onResult(r), (e) => view.onClose(e));
        await session.opened;
        let first = true;
        const rate = sampleRate();
        stopMic = await captureMicrophone(rate, Math.round(CHUNK_SECONDS * rate), (chunk) => {
          const value = { tensor: { dtype: wireDtype(audio.input.dtype), shape: [chunk.length], contents: sampleList(chunk) } };
          session.send(withParameters({ inputs: { [audio.name]: value } }, params, first));
          first = false;
        });
        mic.textContent = "Stop microphone";
      } catch (error) {
        show(error);
      }
    });
    const file = h("button", { type: "button", id: "stream-file" }, "Stream the file");
    file.addEventListener("click", async () => {
      file.disabled = true;
      try {
        await streamFile(card, audio, params, out);
      } catch (error) {
        show(error);
      } finally {
        file.disabled = false;
      }
    });
    return h("div.actions.stream", {}, h("span.muted", {}, "Stream: "), file, mic);
  }
  let session = null;
  const send = h("button", { type: "button", id: "stream-send" }, "Send item");
  send.addEventListener("click", async () => {
    try {
      if (!session) {
        const view = transcriptView();
        fill(out, view.element);
        session = new StreamSession(card, (r) => view.onResult(r), (e) => { view.onClose(e); session = null; });
        await session.opened;
      }
      session.send(withParameters({ inputs: await readInputs(fields) }, params, session.sent === 0));
    } catch (error) {
      show(error);
    }
  });
  const end = h("button", { type: "button", id: "stream-end", onclick: () => session && session.end() }, "End stream");
  return h("div.actions.stream", {}, h("span.muted", {}, "Stream: "), send, end);
}
