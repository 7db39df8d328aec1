// The live view: polls dashboard/data and redraws. Feedback texts are untrusted input, so
// everything is written with textContent / createElement, never innerHTML.
"use strict";

const POLL_MS = 2000;
const LABELS = ["positive", "negative", "neutral"];
const $ = (id) => document.getElementById(id);

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function fmt(n, digits) {
  return Number(n || 0).toLocaleString(undefined, {
    minimumFractionDigits: digits || 0, maximumFractionDigits: digits || 0,
  });
}

function stack(container, counts) {
  container.replaceChildren();
  const total = LABELS.reduce((sum, label) => sum + (counts[label] || 0), 0);
  for (const label of LABELS) {
    if (!total || !counts[label]) continue;
    const part = el("div", { class: label, title: `${label}: ${counts[label]}` });
    part.style.width = `${(100 * counts[label]) / total}%`;
    container.append(part);
  }
  return total;
}

function drawRate(series) {
  const svg = $("rate-chart");
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const width = 600, height = 120, n = series.length || 1;
  const max = Math.max(1, ...series);
  const barWidth = width / n;
  const axis = document.createElementNS(ns, "line");
  for (const [k, v] of Object.entries({ x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5, class: "axis" })) axis.setAttribute(k, v);
  svg.append(axis);
  series.forEach((value, i) => {
    if (!value) return;
    const h = Math.max(1, ((height - 6) * value) / max);
    const bar = document.createElementNS(ns, "rect");
    for (const [k, v] of Object.entries({ x: i * barWidth, y: height - h, width: Math.max(barWidth - 0.5, 0.5), height: h, class: "bar" })) bar.setAttribute(k, v);
    const title = document.createElementNS(ns, "title");
    title.textContent = `${value} msg/s, ${n - 1 - i} s ago`;
    bar.append(title);
    svg.append(bar);
  });
  svg.setAttribute("data-max", String(max));
  $("axis-start").textContent = `−${n} s`;
  $("axis-peak").textContent = `peak ${fmt(Math.max(0, ...series))} msg/s`;
}

function render(data) {
  const w = data.worker || {};
  $("worker").textContent = `${w.app_id} · topic ${w.topic} · partitions [${(w.partitions || []).join(", ")}] · model ${w.model_version || "–"} · lag ${fmt(w.lag)}`;
  $("rate-now").textContent = fmt(data.rate.now, 1);
  $("rate-window").textContent = fmt(data.rate.window, 2);
  $("rate-window-label").textContent = `messages / s (last ${Math.round(data.window_s / 60)} min)`;
  $("messages").textContent = fmt(data.messages);
  $("dead").textContent = fmt(data.dead);
  $("window").textContent = `· last ${data.window_s} s, this worker`;
  drawRate(data.rate.per_second);

  const total = stack($("mix"), data.sentiment);
  const legend = $("mix-legend");
  legend.replaceChildren();
  for (const label of LABELS) {
    const count = data.sentiment[label] || 0;
    const pct = total ? Math.round((100 * count) / total) : 0;
    const item = el("li", { class: label, "data-label": label });
    item.append(el("span", {}, `${label} ${pct}% (${fmt(count)})`));
    legend.append(item);
  }

  const body = $("entities").querySelector("tbody");
  body.replaceChildren();
  for (const entity of data.entities) {
    const row = el("tr");
    row.append(el("td", {}, entity.text));
    const kind = el("td");
    kind.append(el("span", { class: `chip ${entity.label}` }, entity.label));
    row.append(kind);
    row.append(el("td", { class: "num" }, fmt(entity.mentions)));
    const mix = el("td");
    const bar = el("div", { class: "mini", title: LABELS.map((l) => `${l} ${entity.sentiment[l]}`).join(", ") });
    stack(bar, entity.sentiment);
    mix.append(bar);
    row.append(mix);
    body.append(row);
  }
  $("entities-empty").classList.toggle("hidden", data.entities.length > 0);

  const list = $("negative");
  list.replaceChildren();
  for (const item of data.negative) {
    const li = el("li");
    li.append(el("div", { class: "text" }, item.text));
    const names = (item.entities || []).map((e) => e.text).join(", ");
    const score = item.score === null || item.score === undefined ? "" : ` · negative ${Number(item.score).toFixed(2)}`;
    li.append(el("div", { class: "meta" }, `id ${item.id}${score}${names ? ` · ${names}` : ""} · ${item.processed_at || ""}`));
    list.append(li);
  }
  $("negative-empty").classList.toggle("hidden", data.negative.length > 0);
  document.body.setAttribute("data-messages", String(data.messages));
}

async function poll() {
  try {
    const response = await fetch("dashboard/data", { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    $("dot").className = "dot live";
    $("updated").textContent = `updated ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $("dot").className = "dot down";
    $("updated").textContent = `worker unreachable (${err.message})`;
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

poll();
