// Small DOM and formatting helpers shared by the NOC console's modules. No HTML parsing anywhere:
// every text reaches the page through textContent, so nothing the API returns can run as markup.

import { t, lang } from "./i18n.js";

const SVG_NS = "http://www.w3.org/2000/svg";

/** el("div.card#x", {attrs, on: {click: fn}}, ...children) — children: nodes, strings, arrays, null. */
export function el(spec, attrs, ...children) {
  return build(document.createElement(tagOf(spec)), spec, attrs, children);
}

/** The same for SVG elements. */
export function svg(spec, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tagOf(spec)), spec, attrs, children);
}

function tagOf(spec) {
  return spec.split(/[.#]/)[0] || "div";
}

function build(node, spec, attrs, children) {
  for (const m of spec.matchAll(/([.#])([\w-]+)/g)) {
    if (m[1] === ".") node.classList.add(m[2]);
    else node.id = m[2];
  }
  if (attrs && (typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "on") for (const [ev, fn] of Object.entries(v)) node.addEventListener(ev, fn);
    else if (k === "class") for (const c of String(v).split(/\s+/).filter(Boolean)) node.classList.add(c);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k === "text") node.textContent = v;
    else if (k === "value" && "value" in node) node.value = v;
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

/** Replace a node's children. */
export function fill(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// --- time: UTC inside, WIB for people --------------------------------------------------------------
const fmtCache = new Map();
function fmt(opts) {
  const key = lang() + JSON.stringify(opts);
  if (!fmtCache.has(key)) {
    fmtCache.set(key, new Intl.DateTimeFormat(lang() === "id" ? "id-ID" : "en-GB", { timeZone: "Asia/Jakarta", ...opts }));
  }
  return fmtCache.get(key);
}

/** 14.05 WIB (today) or 3 Des 14.05 WIB. */
export function wib(ts, withSeconds = false) {
  if (ts === null || ts === undefined) return "–";
  const d = new Date(ts * 1000);
  const time = fmt({ hour: "2-digit", minute: "2-digit", ...(withSeconds ? { second: "2-digit" } : {}), hour12: false }).format(d);
  const day = fmt({ day: "numeric", month: "short" });
  const sameDay = day.format(d) === day.format(new Date());
  return (sameDay ? "" : day.format(d) + " ") + time + " WIB";
}

export function wibDate(ts) {
  return fmt({ day: "numeric", month: "long", year: "numeric" }).format(new Date(ts * 1000));
}

/** 1 j 05 m / 1 h 05 m; 45 s. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60);
  const u = t("units");
  if (d) return `${d} ${u.d} ${h} ${u.h}`;
  if (h) return `${h} ${u.h} ${String(m).padStart(2, "0")} ${u.m}`;
  if (m) return `${m} ${u.m}`;
  return `${s} ${u.s}`;
}

export function since(ts) {
  return ts ? duration(Date.now() / 1000 - ts) : "–";
}

export function num(n, digits = 0) {
  if (n === null || n === undefined || !isFinite(n)) return "–";
  return new Intl.NumberFormat(lang() === "id" ? "id-ID" : "en-GB", { maximumFractionDigits: digits, minimumFractionDigits: digits }).format(n);
}

export function pct(x, digits = 2) {
  return x === null || x === undefined ? "–" : num(x, digits) + " %";
}

export function bps(v) {
  if (v === null || v === undefined) return "–";
  const units = ["bit/s", "kbit/s", "Mbit/s", "Gbit/s"];
  let i = 0;
  while (Math.abs(v) >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return num(v, v < 10 && i ? 1 : 0) + " " + units[i];
}

/**
 * Replace a box's content without losing what the operator was typing: the values of its inputs,
 * text areas and selects (by id) and the focus survive the redraw (a live update of the incident
 * must not eat a half-written note).
 */
export function refill(box, ...children) {
  const kept = new Map();
  for (const n of box.querySelectorAll("input[id], textarea[id], select[id]")) kept.set(n.id, n.value);
  const focused = document.activeElement && box.contains(document.activeElement) ? document.activeElement.id : null;
  fill(box, ...children);
  for (const [id, value] of kept) {
    const n = box.querySelector(`#${CSS.escape(id)}`);
    if (n && value !== "") n.value = value;
  }
  if (focused) {
    const n = box.querySelector(`#${CSS.escape(focused)}`);
    if (n) n.focus();
  }
  return box;
}

/** Run fn at most once per animation frame. */
export function perFrame(fn) {
  let queued = false;
  return (...args) => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      fn(...args);
    });
  };
}

/**
 * Call fn once a burst of calls has paused for ms; with maxMs, at the latest maxMs after the burst's
 * first call (a steady stream of events must not starve the refresh it asks for).
 */
export function debounce(fn, ms, maxMs = Infinity) {
  let timer = null;
  let first = 0;
  return (...args) => {
    const now = Date.now();
    if (timer === null) first = now;
    clearTimeout(timer);
    const wait = Math.max(0, Math.min(ms, first + maxMs - now));
    timer = setTimeout(() => {
      timer = null;
      fn(...args);
    }, wait);
  };
}

/** A state badge: coloured dot and the state's name (never colour alone). */
export function badge(state, kind = "health") {
  return el(`span.badge.st-${state}`, { dataset: { state } }, t(`${kind}.${state}`));
}

export function causeBadge(cause) {
  return el(`span.cause.c-${cause}`, t(`cause.${cause}`));
}

export function download(name, text, type = "text/csv") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = el("a", { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
