// The page's entry point: tabs from the URL hash (#/models, #/models/NAME, #/upload, #/live).

import { call, setToken, token } from "./api.js";
import { showCards, showModel } from "./cards.js";
import { LiveView } from "./live.js";
import { setupUpload } from "./upload.js";

const views = ["models", "model", "upload", "live"];
let live = null;

function showView(name) {
  for (const view of views) document.getElementById(`view-${view}`).hidden = view !== name;
  const tab = name === "model" ? "models" : name;
  for (const link of document.querySelectorAll("nav a[data-tab]")) {
    link.classList.toggle("active", link.dataset.tab === tab);
  }
}

async function route() {
  const [, section = "models", name, version] = location.hash.split("/");
  if (name && section === "models") {
    showView("model");
    const view = document.getElementById("view-model");
    await showModel(view, decodeURIComponent(name), version && decodeURIComponent(version));
  } else if (section === "upload") {
    showView("upload");
  } else if (section === "live") {
    showView("live");
  } else {
    showView("models");
    await showCards(document.getElementById("cards"));
  }
  if (section === "live") live.start();
  else live.stop();
}

async function serverInfo() {
  try {
    const info = await call("/api/v1/server");
    document.getElementById("server-info").textContent = `${info.name} ${info.version}${info.ready ? "" : " (not ready)"}`;
  } catch {
    document.getElementById("server-info").textContent = "";
  }
}

function setup() {
  const input = document.getElementById("token");
  input.value = token();
  input.addEventListener("change", () => {
    if (input.value.trim() === token()) return; // e.g. a blur after Enter: nothing new
    setToken(input.value.trim());
    route();
  });
  document.getElementById("refresh-models").addEventListener("click", () => showCards(document.getElementById("cards")));
  live = new LiveView(document.getElementById("live"));
  setupUpload();
  window.addEventListener("hashchange", route);
  serverInfo();
  route();
}

setup();
