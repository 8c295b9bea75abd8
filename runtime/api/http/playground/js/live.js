// Live view: polls the cumulative counters of GET /api/v1/stats and draws, per model, the
// request rate, mean latency and mean batch size of each interval over the last minutes.

import { call } from "./api.js";
import { fill, h } from "./dom.js";
import { lineChart } from "./charts.js";

export const POLL_MS = 2000;
export const WINDOW_S = 300;

/** Per-interval rates between two stats snapshots of one model (null where nothing happened). */
export function ratesBetween(before, after, seconds) {
  const d = (key) => (after[key] || 0) - (before[key] || 0);
  if (seconds <= 0 || d("requests") < 0) return null; // a counter reset: the model was reloaded
  return {
    rate: d("requests") / seconds,
    errors: d("errors") / seconds,
    latencyMs: d("latency_count") > 0 ? (1000 * d("latency_sum_s")) / d("latency_count") : null,
    batch: d("batches") > 0 ? d("batch_size_sum") / d("batches") : null,
  };
}

export class LiveView {
  constructor(root) {
    this.root = root;
    this.samples = []; // [{time, models}] as the server sent them
    this.timer = null;
  }

  start() {
    if (this.timer) return;
    const tick = async () => {
      try {
        const stats = await call("/api/v1/stats");
        this.samples.push(stats);
        const oldest = stats.time - WINDOW_S - POLL_MS / 1000;
        while (this.samples.length && this.samples[0].time < oldest) this.samples.shift();
        this.draw();
      } catch (error) {
        fill(this.root, h("p.error", {}, `Could not read /api/v1/stats: ${error.describe ? error.describe() : error}`));
      }
    };
    tick();
    this.timer = setInterval(tick, POLL_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
  }

  series(name) {
    const out = { rate: [], latencyMs: [], batch: [], errors: [] };
    for (let i = 1; i < this.samples.length; i++) {
      const before = this.samples[i - 1].models[name];
      const after = this.samples[i].models[name];
      const t = this.samples[i].time;
      const r = before && after ? ratesBetween(before, after, t - this.samples[i - 1].time) : null;
      for (const key of Object.keys(out)) out[key].push([t, r ? r[key] : null]);
    }
    return out;
  }

  draw() {
    const last = this.samples[this.samples.length - 1];
    if (last.metrics === false) {
      fill(this.root, h("p.muted", {}, "This server keeps no metrics (metrics_port is unset), so there is nothing to chart."));
      return;
    }
    // The busiest models first; the time axis spans what has been seen, up to WINDOW_S.
    const names = Object.keys(last.models).sort(
      (a, b) => (last.models[b].requests || 0) - (last.models[a].requests || 0) || a.localeCompare(b));
    if (!names.length) {
      fill(this.root, h("p.muted", {}, "No models yet."));
      return;
    }
    const now = last.time;
    const windowS = Math.min(WINDOW_S, Math.max(60, now - this.samples[0].time));
    fill(this.root, names.map((name) => {
      const s = this.series(name);
      const total = last.models[name];
      return h("div.live-model", { dataset: { model: name } },
        h("h3", {}, name, h("span.muted", {}, ` ${total.requests || 0} requests, ${total.errors || 0} errors`)),
        h("div.charts", {},
          lineChart(s.rate, { title: "requests/s", now, windowS }),
          lineChart(s.latencyMs, { title: "latency", unit: " ms", now, windowS }),
          lineChart(s.batch, { title: "batch size", now, windowS })));
    }));
  }
}
