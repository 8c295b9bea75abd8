// Building DOM elements: h("div.card", {onclick}, child, ...) and a few shared widgets.

/** An element from a tag with optional .classes, attributes/properties/on* handlers, children. */
export function h(spec, attrs = {}, ...children) {
  const [tag, ...classes] = spec.split(".");
  const el = document.createElement(tag || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A collapsible raw-JSON view ("Raw JSON" one click away). */
export function rawJson(value, label = "Raw JSON") {
  return h("details.raw", {}, h("summary", {}, label), h("pre", {}, JSON.stringify(value, null, 2)));
}

/** Show a message at the top of the page (errors in red); hidden again after a while. */
export function notify(message, isError = false) {
  const box = document.getElementById("notice");
  box.textContent = message;
  box.classList.toggle("error", isError);
  box.hidden = false;
  clearTimeout(notify.timer);
  notify.timer = setTimeout(() => (box.hidden = true), isError ? 10000 : 4000);
}

/** Ask for a yes/no in the page's dialog; resolves true on the confirm button. */
export function confirmDialog(text, okLabel = "Delete") {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-text").textContent = text;
  document.getElementById("confirm-ok").textContent = okLabel;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

/** Text a value shows as in a card: "MODEL_STATE_READY" or "READY" -> "ready". */
export function plain(value, prefix = "") {
  if (value === undefined || value === null || value === "") return "";
  let text = String(value);
  for (const p of ["MODEL_STATE_", "MODEL_TYPE_", "FRAMEWORK_", "DATA_TYPE_", "BUNDLE_FORMAT_", prefix]) {
    if (p && text.startsWith(p)) text = text.slice(p.length);
  }
  return text.toLowerCase();
}
