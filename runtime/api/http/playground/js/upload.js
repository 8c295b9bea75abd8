// Upload: a bundle zip (or a folder, zipped here) sent with XMLHttpRequest for its upload
// progress, then the server's check and load, then the new model's card.

import { ApiError, authHeaders } from "./api.js";
import { cardTile } from "./cards.js";
import { fill, h, notify, plain } from "./dom.js";
import { zipFolder } from "./zip.js";

function send(form, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/uploads");
    for (const [key, value] of Object.entries(authHeaders())) xhr.setRequestHeader(key, value);
    xhr.upload.onprogress = (event) => event.lengthComputable && onProgress(event.loaded / event.total);
    xhr.upload.onload = () => onProgress(1, true);
    xhr.onerror = () => reject(new Error("the upload failed: no answer from the server"));
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = { error: xhr.responseText || `HTTP ${xhr.status}` };
      }
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body));
    };
    xhr.send(form);
  });
}

/** Wire the Upload tab's form. */
export function setupUpload() {
  const form = document.getElementById("upload-form");
  const zip = document.getElementById("upload-file");
  const folder = document.getElementById("upload-folder");
  const progress = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const result = document.getElementById("upload-result");
  zip.addEventListener("change", () => (folder.value = ""));
  folder.addEventListener("change", () => (zip.value = ""));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = document.getElementById("upload-submit");
    fill(result);
    status.classList.remove("error");
    try {
      let file = zip.files[0];
      if (!file && folder.files.length) {
        status.textContent = "Zipping the folder…";
        file = await zipFolder(folder.files);
      }
      if (!file) throw new Error("choose a zip file or a folder first");
      const data = new FormData();
      data.append("bundle", file, file.name);
      for (const key of ["namespace", "version"]) {
        const value = document.getElementById(`upload-${key}`).value.trim();
        if (value) data.append(key, value);
      }
      if (document.getElementById("upload-skip-load").checked) data.append("skip_load", "true");
      button.disabled = true;
      progress.hidden = false;
      progress.value = 0;
      status.textContent = `Uploading ${file.name} (${(file.size / 1024).toFixed(1)} KiB)…`;
      const card = await send(data, (share, sent) => {
        progress.value = share;
        if (sent) status.textContent = "Uploaded; the server is checking and loading the bundle…";
      });
      const state = plain(card.state);
      status.textContent = `${card.name} v${card.version}: ${state}${card.failed_reason ? ` (${card.failed_reason})` : ""}`;
      status.classList.toggle("error", state === "failed");
      fill(result, cardTile(card));
      notify(`Uploaded ${card.name} v${card.version}`);
    } catch (error) {
      status.textContent = `Upload failed: ${error instanceof ApiError ? error.describe() : error.message}`;
      status.classList.add("error");
    } finally {
      button.disabled = false;
    }
  });
}
