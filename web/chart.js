// A stacked bar chart in hand-drawn SVG (no library: two series, bars, two axes), for the
// History view. Each bar segment is a <rect data-kind="succeeded|failed" data-start=ISO
// data-value=N> with a tooltip.

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 960;
const HEIGHT = 220;
const MARGIN = { top: 12, right: 12, bottom: 34, left: 56 };

function element(name, attributes = {}, text) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** 1, 2 or 5 times a power of ten, at least `value` (at least 1). */
function niceCeiling(value) {
  if (value <= 1) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= value);
}

function clock(date, withSeconds = false) {
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", ...(withSeconds ? { second: "2-digit" } : {}) });
}

/**
 * Draws `buckets` ({start, succeeded, failed}) into `container` as stacked bars.
 * `unit` names a bucket ("min", "15 min"); a time label goes under every bucket whose start
 * is a multiple of `labelEvery` seconds.
 */
export function barChart(container, buckets, { bucketSeconds, unit, labelEvery }) {
  const plotWidth = WIDTH - MARGIN.left - MARGIN.right;
  const plotHeight = HEIGHT - MARGIN.top - MARGIN.bottom;
  const top = niceCeiling(Math.max(0, ...buckets.map((b) => b.succeeded + b.failed)));
  const slot = plotWidth / Math.max(1, buckets.length);
  const y = (value) => MARGIN.top + plotHeight - (value / top) * plotHeight;
  const svg = element("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", class: "bars" });
  svg.append(element("title", {}, `jobs ended per ${unit}`));

  // The y axis: 0, half and the top, with grid lines, and its unit.
  for (const value of [0, top / 2, top]) {
    if (!Number.isInteger(value)) continue;
    svg.append(element("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: y(value), y2: y(value), class: "grid" }));
    svg.append(element("text", { x: MARGIN.left - 6, y: y(value) + 4, "text-anchor": "end", class: "tick y-tick" }, String(value)));
  }
  svg.append(element("text", {
    x: 14, y: MARGIN.top + plotHeight / 2, "text-anchor": "middle", class: "axis-label y-label",
    transform: `rotate(-90 14 ${MARGIN.top + plotHeight / 2})`,
  }, `jobs / ${unit}`));

  buckets.forEach((bucket, i) => {
    const start = new Date(bucket.start);
    const x = MARGIN.left + i * slot;
    const width = Math.max(1, slot - (slot > 4 ? 1.5 : 0.5));
    const label = `${clock(start)}: ${bucket.succeeded} succeeded, ${bucket.failed} failed`;
    let base = 0;
    for (const kind of ["succeeded", "failed"]) {
      const value = bucket[kind];
      const rect = element("rect", {
        x: x.toFixed(2), width: width.toFixed(2), y: y(base + value).toFixed(2),
        height: (y(base) - y(base + value)).toFixed(2), class: kind,
        "data-kind": kind, "data-start": bucket.start, "data-value": value,
      });
      rect.append(element("title", {}, label));
      svg.append(rect);
      base += value;
    }
    if (Math.round(start.getTime() / 1000) % labelEvery === 0) {
      const middle = x + slot / 2;
      svg.append(element("line", { x1: middle, x2: middle, y1: MARGIN.top + plotHeight, y2: MARGIN.top + plotHeight + 4, class: "axis" }));
      svg.append(element("text", { x: middle, y: MARGIN.top + plotHeight + 16, "text-anchor": "middle", class: "tick x-tick" }, clock(start)));
    }
  });
  svg.append(element("line", { x1: MARGIN.left, x2: WIDTH - MARGIN.right, y1: MARGIN.top + plotHeight, y2: MARGIN.top + plotHeight, class: "axis" }));
  svg.append(element("line", { x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: MARGIN.top + plotHeight, class: "axis" }));
  svg.append(element("text", { x: MARGIN.left + plotWidth / 2, y: HEIGHT - 4, "text-anchor": "middle", class: "axis-label x-label" },
    `time (local), one bar per ${bucketSeconds >= 60 ? `${bucketSeconds / 60} min` : `${bucketSeconds} s`}`));
  container.replaceChildren(svg);
}
