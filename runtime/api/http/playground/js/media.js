// Images and audio in the browser: files to tensors (pixels, PCM samples), and the microphone.

/** Longest side an image is scaled down to before it is sent as a pixel tensor. */
export const MAX_IMAGE_SIDE = 512;

/** File -> base64 text (for a bytes input). */
export async function base64Of(file) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Decode an image file into a canvas, scaled so its longest side is at most `maxSide`. */
export async function imageCanvas(file, maxSide = MAX_IMAGE_SIDE) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
  const canvas = document.createElement("canvas");
  canvas.width = Math.max(1, Math.round(bitmap.width * scale));
  canvas.height = Math.max(1, Math.round(bitmap.height * scale));
  canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  bitmap.close();
  return canvas;
}

/** The pixels of a canvas as a row-major [H, W, channels] list (RGB by default, alpha dropped). */
export function pixels(canvas, channels = 3) {
  const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
  const out = new Array(canvas.width * canvas.height * channels);
  for (let p = 0, o = 0; p < data.length; p += 4) {
    for (let c = 0; c < channels; c++) out[o++] = data[p + c];
  }
  return out;
}

/** Decode an audio file (WAV, MP3, OGG...) into mono float32 samples at `sampleRate`. */
export async function decodeAudio(file, sampleRate) {
  const probe = new OfflineAudioContext(1, 1, sampleRate);
  const decoded = await probe.decodeAudioData(await file.arrayBuffer());
  const length = Math.max(1, Math.ceil(decoded.duration * sampleRate));
  const offline = new OfflineAudioContext(1, length, sampleRate);
  const source = offline.createBufferSource();
  source.buffer = decoded; // mixed down to the one channel, resampled by the context
  source.connect(offline.destination);
  source.start();
  const rendered = await offline.startRendering();
  return rendered.getChannelData(0);
}

/** Float samples as a plain list with a few digits (JSON stays small). */
export function sampleList(samples) {
  return Array.from(samples, (x) => Math.round(x * 1e5) / 1e5);
}

/**
 * Capture the microphone as mono float32 chunks of `chunkSamples` at `sampleRate` (the
 * AudioContext resamples), calling `onChunk(Float32Array)`. Returns a stop() function.
 */
export async function captureMicrophone(sampleRate, chunkSamples, onChunk) {
  if (!window.isSecureContext || !navigator.mediaDevices) {
    throw new Error("the microphone needs a secure page: open the playground on localhost or over https");
  }
  const stream = await navigator.mediaDevices.getUserMedia({
    audio: { channelCount: 1, echoCancellation: false, noiseSuppression: false, autoGainControl: false },
  });
  const context = new AudioContext({ sampleRate });
  await context.audioWorklet.addModule("/playground/js/mic-worklet.js");
  const source = context.createMediaStreamSource(stream);
  const node = new AudioWorkletNode(context, "mic-chunks", { processorOptions: { chunkSamples } });
  node.port.onmessage = (event) => onChunk(event.data);
  source.connect(node);
  const silent = context.createGain(); // keeps the graph pulling without playing anything back
  silent.gain.value = 0;
  node.connect(silent).connect(context.destination);
  await context.resume();
  return async () => {
    source.disconnect();
    node.disconnect();
    stream.getTracks().forEach((track) => track.stop());
    await context.close();
  };
}
