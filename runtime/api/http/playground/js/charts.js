// Small line charts drawn as SVG: a series of [time, value] points over a fixed time window.

const SVG = "http://www.w3.org/2000/svg";

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function formatValue(value) {
  if (value === 0) return "0";
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 1) return value.toFixed(1);
  return value.toPrecision(2);
}

/**
 * An SVG chart of `points` ([[unixSeconds, value|null], ...]) over the last `windowS` seconds
 * before `now`; null values are gaps. The y axis starts at 0 and ends at the largest value.
 */
export function lineChart(points, { title, unit = "", now, windowS = 300, width = 260, height = 90 }) {
  const pad = { left: 34, right: 6, top: 16, bottom: 14 };
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  const values = points.map((p) => p[1]).filter((v) => v !== null && Number.isFinite(v));
  const top = Math.max(...values, 0) || 1;
  const x = (t) => pad.left + ((t - (now - windowS)) / windowS) * (width - pad.left - pad.right);
  const y = (v) => height - pad.bottom - (v / top) * (height - pad.top - pad.bottom);
  const last = values.length ? values[values.length - 1] : null;
  svg.append(el("text", { x: 2, y: 11, class: "chart-title" }, `${title}${last === null ? "" : `: ${formatValue(last)}${unit}`}`));
  svg.append(el("line", { x1: pad.left, x2: width - pad.right, y1: y(0), y2: y(0), class: "axis" }));
  svg.append(el("text", { x: pad.left - 3, y: y(top) + 4, class: "tick", "text-anchor": "end" }, formatValue(top)));
  svg.append(el("text", { x: pad.left - 3, y: y(0), class: "tick", "text-anchor": "end" }, "0"));
  const span = windowS >= 120 ? `${Math.round(windowS / 60)} min` : `${Math.round(windowS)} s`;
  svg.append(el("text", { x: pad.left, y: height - 2, class: "tick" }, `-${span}`));
  svg.append(el("text", { x: width - pad.right, y: height - 2, class: "tick", "text-anchor": "end" }, "now"));
  let run = [];
  const flush = () => {
    if (run.length > 1) svg.append(el("polyline", { points: run.join(" "), class: "series" }));
    else if (run.length === 1) {
      const [cx, cy] = run[0].split(",");
      svg.append(el("circle", { cx, cy, r: 1.5, class: "dot" }));
    }
    run = [];
  };
  for (const [t, v] of points) {
    if (t < now - windowS) continue;
    if (v === null || !Number.isFinite(v)) flush();
    else run.push(`${x(t).toFixed(1)},${y(v).toFixed(1)}`);
  }
  flush();
  return svg;
}
