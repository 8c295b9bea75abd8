// Model cards: the grid on the Models tab and the full card (with Try it) of one model.

import { call, modelPath, token } from "./api.js";
import { confirmDialog, fill, h, notify, plain, rawJson } from "./dom.js";
import { tryIt } from "./tryit.js";

/** Load the model list into the grid. */
export async function showCards(grid) {
  fill(grid, h("p.muted", {}, "Loading models…"));
  try {
    const { models } = await call("/api/v1/models");
    if (!models.length) {
      fill(grid, h("p.muted", {}, "No models yet. ", h("a", { href: "#/upload" }, "Upload a bundle"), "."));
      return;
    }
    fill(grid, models.map(cardTile));
  } catch (error) {
    fill(grid, h("p.error", {}, `Could not list models: ${error.describe ? error.describe() : error}`));
  }
}

function stateBadge(card) {
  const state = plain(card.state);
  return h(`span.badge.state-${state || "unknown"}`, { title: card.failed_reason || "" }, state || "unknown");
}

/** The image of a card, cache-busted by version so a new upload shows its own picture; an <img>
 * cannot send headers, so the token rides as ?token=. */
function cardImage(card, size = "") {
  const query = new URLSearchParams({ v: card.version || "" });
  if (token()) query.set("token", token());
  const url = `${card.image_url || modelPath(card.name) + "/image"}?${query}`;
  return h(`img.card-image${size}`, { src: url, alt: `${card.name} card image`, loading: "lazy" });
}

function tags(card) {
  return h("div.tags", {},
    card.model_type ? h("span.tag", {}, plain(card.model_type).replace(/_/g, " ")) : null,
    card.framework ? h("span.tag", {}, plain(card.framework)) : null,
    (card.capabilities || []).map((c) => h("span.tag.cap", {}, c)));
}

/** One tile of the grid; a click opens the model's card. */
export function cardTile(card) {
  const href = `#/models/${encodeURIComponent(card.name)}`;
  return h("a.card", { href, dataset: { model: card.name } },
    cardImage(card),
    h("div.card-body", {},
      h("div.card-title", {}, h("b.name", {}, card.name), h("span.version", {}, `v${card.version || "?"}`), stateBadge(card)),
      tags(card),
      card.description ? h("p.description", {}, card.description) : null,
      plain(card.state) === "failed" ? h("p.failed-reason", {}, card.failed_reason || "failed") : null));
}

function inputsTable(inputs) {
  if (!inputs || !inputs.length) return h("p.muted", {}, "No declared inputs: the model takes any.");
  return h("table.inputs", {},
    h("tr", {}, h("th", {}, "input"), h("th", {}, "kind"), h("th", {}, "dtype"), h("th", {}, "shape")),
    inputs.map((i) => h("tr", {},
      h("td", {}, i.name, i.optional ? h("span.muted", {}, " (optional)") : null),
      h("td", {}, i.kind || "tensor"),
      h("td", {}, plain(i.dtype)),
      h("td", {}, i.shape && i.shape.length ? `[${i.shape.join(", ")}]` : ""))));
}

function schemaView(schema) {
  if (!schema) return h("p.muted", {}, "No output schema.");
  const props = schema.properties || {};
  const rows = Object.entries(props).map(([name, p]) => h("li", {},
    h("code", {}, name), `: ${p.type || (p.anyOf ? "any of" : "value")}`,
    p.description ? h("span.muted", {}, ` — ${p.description}`) : null));
  return h("div", {},
    schema.title ? h("p", {}, h("b", {}, schema.title), schema.description ? ` — ${schema.description}` : "") : null,
    rows.length ? h("ul.schema", {}, rows) : null,
    rawJson(schema, "JSON Schema"));
}

function versionLinks(card) {
  return card.versions.map((v, i) => [i ? ", " : "",
    v === card.version ? h("b", {}, v) : h("a", { href: `#/models/${encodeURIComponent(card.name)}/${encodeURIComponent(v)}` }, v)]);
}

async function manage(card, action, view) {
  try {
    if (action === "delete") {
      const ok = await confirmDialog(`Delete ${card.name} v${card.version}? Its bundle is removed from the store.`);
      if (!ok) return;
      await call(modelPath(card.name, card.version), { method: "DELETE" });
      notify(`Deleted ${card.name} v${card.version}`);
      location.hash = "#/models";
      return;
    }
    notify(`${action === "load" ? "Loading" : "Unloading"} ${card.name}…`);
    await call(`${modelPath(card.name, card.version)}/${action}`, { method: "POST" });
    await showModel(view, card.name, card.version);
  } catch (error) {
    notify(`${action} failed: ${error.describe ? error.describe() : error}`, true);
  }
}

/** The full card of `name` (its newest READY version, or `version`) and its Try it panel. */
export async function showModel(view, name, version) {
  fill(view, h("p.muted", {}, `Loading ${name}…`));
  let card;
  try {
    card = await call(modelPath(name, version));
  } catch (error) {
    fill(view, h("p.error", {}, `Could not get ${name}: ${error.describe ? error.describe() : error}`),
      h("a", { href: "#/models" }, "← all models"));
    return;
  }
  const state = plain(card.state);
  const actions = h("div.actions", {},
    state === "ready"
      ? h("button", { type: "button", onclick: () => manage(card, "unload", view) }, "Unload")
      : h("button", { type: "button", onclick: () => manage(card, "load", view) }, "Load"),
    h("button.danger", { type: "button", onclick: () => manage(card, "delete", view) }, "Delete"));
  fill(view,
    h("a.back", { href: "#/models" }, "← all models"),
    h("article.model", { dataset: { model: card.name } },
      h("div.model-head", {},
        cardImage(card, ".large"),
        h("div", {},
          h("h1", {}, card.name, " ", h("span.version", {}, `v${card.version}`), " ", stateBadge(card)),
          tags(card),
          card.description ? h("p.description", {}, card.description) : null,
          state === "failed" ? h("p.failed-reason", {}, `Failed: ${card.failed_reason || "no reason given"}`) : null,
          h("dl.facts", {},
            card.versions && card.versions.length ? [h("dt", {}, "versions"), h("dd.versions", {}, versionLinks(card))] : null,
            card.batching ? [h("dt", {}, "batching"), h("dd", {}, JSON.stringify(card.batching))] : null,
            card.created ? [h("dt", {}, "created"), h("dd", {}, card.created)] : null,
            card.sha256 ? [h("dt", {}, "sha256"), h("dd.mono", {}, card.sha256)] : null),
          actions)),
      h("div.columns", {},
        h("section", {}, h("h2", {}, "Inputs"), inputsTable(card.inputs)),
        h("section", {}, h("h2", {}, "Output schema"), schemaView(card.output_schema))),
      rawJson(card, "Raw card JSON"),
      state === "ready" ? tryIt(card) : h("p.muted", {}, "Load the model to try it.")));
}
