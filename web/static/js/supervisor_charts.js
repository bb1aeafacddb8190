// The dashboard's two charts, drawn as plain SVG: waiting chats and available counsellors over the
// last hour, and today's service level by hour. Each chart is an image with a text alternative
// (its caption says the figures in words), so nothing depends on seeing it.

import { _ } from "./i18n.js";
import { clockTime } from "./console_format.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 600;
const HEIGHT = 200;
const PAD = { left: 36, right: 10, top: 10, bottom: 24 };

function svgElement(name, attributes = {}) {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value));
  return element;
}

function canvas(label) {
  const svg = svgElement("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-label": label,
    preserveAspectRatio: "none",
  });
  return svg;
}

function axisLabel(svg, x, y, text, anchor = "middle") {
  const label = svgElement("text", { x, y, "text-anchor": anchor, class: "axis-label" });
  label.textContent = text;
  svg.append(label);
}

function gridLines(svg, top) {
  for (const fraction of [0, 0.5, 1]) {
    const y = PAD.top + (1 - fraction) * (HEIGHT - PAD.top - PAD.bottom);
    svg.append(svgElement("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y, y2: y, class: "grid" }));
    axisLabel(svg, PAD.left - 4, y + 4, String(Math.round(top * fraction)), "end");
  }
}

// points: [[epoch seconds, waiting, available], ...] oldest first.
export function hourChart(box, caption, points, now) {
  const start = now - 3600;
  const top = Math.max(4, ...points.map((p) => Math.max(p[1], p[2])));
  const x = (t) => PAD.left + ((t - start) / 3600) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => PAD.top + (1 - v / top) * (HEIGHT - PAD.top - PAD.bottom);
  const last = points.length ? points[points.length - 1] : null;
  const summary = last
    ? _("Now {waiting} waiting and {available} counsellors available; in the last hour at most {most} waiting.", {
        waiting: last[1],
        available: last[2],
        most: Math.max(...points.map((p) => p[1])),
      })
    : _("No figures for the last hour yet.");
  const svg = canvas(_("Waiting chats and available counsellors over the last hour"));
  gridLines(svg, top);
  for (const [index, series] of [
    [1, "waiting"],
    [2, "available"],
  ]) {
    if (!points.length) break;
    const path = points.map((p) => `${x(p[0]).toFixed(1)},${y(p[index]).toFixed(1)}`).join(" ");
    svg.append(svgElement("polyline", { points: path, class: `series ${series}` }));
  }
  axisLabel(svg, PAD.left, HEIGHT - 6, clockTime(start), "start");
  axisLabel(svg, WIDTH - PAD.right, HEIGHT - 6, clockTime(now), "end");
  box.replaceChildren(svg);
  caption.textContent = "";
  const legend = document.createElement("span");
  legend.className = "legend";
  for (const [series, text] of [
    ["waiting", _("Waiting chats")],
    ["available", _("Available counsellors")],
  ]) {
    const key = document.createElement("span");
    key.className = `key ${series}`;
    key.textContent = text;
    legend.append(key);
  }
  caption.append(legend, document.createTextNode(` ${summary}`));
}

// hours: [{hour: 0..23, answered, service_level}], the day's hours with chats.
export function serviceLevelChart(box, caption, hours) {
  const svg = canvas(_("Share answered within the target, by hour today"));
  gridLines(svg, 100);
  const slot = (WIDTH - PAD.left - PAD.right) / 24;
  for (const hour of hours) {
    if (hour.service_level === null || hour.service_level === undefined) continue;
    const height = hour.service_level * (HEIGHT - PAD.top - PAD.bottom);
    svg.append(
      svgElement("rect", {
        x: PAD.left + hour.hour * slot + 2,
        y: HEIGHT - PAD.bottom - height,
        width: slot - 4,
        height,
        class: "bar",
      }),
    );
  }
  for (const mark of [0, 6, 12, 18]) {
    axisLabel(svg, PAD.left + mark * slot, HEIGHT - 6, String(mark).padStart(2, "0"), "start");
  }
  box.replaceChildren(svg);
  const measured = hours.filter((h) => h.service_level !== null && h.service_level !== undefined);
  caption.textContent = measured.length
    ? measured
        .map((h) =>
          _("{hour}: {share} %", {
            hour: String(h.hour).padStart(2, "0"),
            share: Math.round(h.service_level * 100),
          }),
        )
        .join(", ")
    : _("No chats answered today yet.");
}
