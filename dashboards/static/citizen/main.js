// The citizens' page: "is there an outage in my kelurahan, and why?"
//
// First view: the server writes the city's status into the page (text and a JSON block), so the
// first answer needs no request of its own; the map's outlines (/public/areas) are preloaded by
// the page. Then every POLL_MS the status is asked again with its ETag (a 304 costs ~200 bytes),
// and the open kelurahan's answer too. Only the public API, relative URLs (the page also lives
// at /cities/<city>/).

import { LANGS, lang, setLang, t, translatePage } from "./i18n.js";
import { createMap } from "./map.js";
import {
  h,
  norm,
  renderAffected,
  renderAnswer,
  renderCityLine,
  renderPlanned,
  renderServices,
  setupSearch,
} from "./views.js";

const POLL_MS = 15000;
const API = "api/v1/public/";

const state = {
  status: null, // /public/status
  etag: null,
  map: null,
  names: new Map(), // code -> {code, name, kecamatanName, key}
  entries: [],
  open: null, // {code} or {lat, lon}: what the answer panel shows
};

const $ = (id) => document.getElementById(id);

function saved(key, value) {
  try {
    if (value === undefined) return localStorage.getItem(key);
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // storage refused (private mode): the page works without remembering
  }
  return null;
}

class HttpError extends Error {
  constructor(status, body) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/**
 * GET a public answer; ``revalidate`` asks the browser to check its copy with the ETag (304).
 * A network failure or an answer cut short (the server behind the proxy died while writing it:
 * tests/test_replicas.py) is asked for once more after a short pause; an HTTP error is not.
 */
async function getJSON(path, { revalidate = false } = {}) {
  for (let attempt = 1; ; attempt++) {
    try {
      const r = await fetch(API + path, { cache: revalidate ? "no-cache" : "default" });
      if (!r.ok) throw new HttpError(r.status, await r.json().catch(() => ({})));
      return { body: await r.json(), etag: r.headers.get("ETag") };
    } catch (err) {
      if (err instanceof HttpError || attempt >= 2) throw err;
      await new Promise((done) => setTimeout(done, 300));
    }
  }
}

function message(...nodes) {
  $("ask-msg").replaceChildren(...nodes);
}

// --- the city's status: map colours, lists, the first line --------------------------------------
function applyStatus(doc) {
  state.status = doc;
  renderCityLine(doc);
  const pick = (code, opts) => openArea(code, opts);
  renderAffected($("affected"), doc.kelurahan, state.names, pick);
  renderPlanned($("planned"), doc.maintenance, state.names);
  renderServices($("services"), doc.services);
  if (state.map) {
    state.map.setStatus(doc.kelurahan);
    const by = doc.kelurahan_by_status;
    state.map.setLabel(t("mapLabel", { n: doc.kelurahan.length, out: by.outage || 0, mnt: by.maintenance || 0 }));
  }
}

async function pollStatus() {
  try {
    const { body, etag } = await getJSON("status", { revalidate: true });
    if (etag !== state.etag) {
      state.etag = etag;
      applyStatus(body);
    }
  } catch {
    // keep showing the last status; the next poll tries again
  }
}

// --- one kelurahan's answer ----------------------------------------------------------------
function areaQuery(code) {
  const [kec, ...rest] = code.split("/");
  const name = rest.join("/");
  return `kelurahan/${encodeURIComponent(name)}?lang=${lang()}&kecamatan=${encodeURIComponent(kec)}`;
}

function codeOf(answer) {
  for (const e of state.entries) if (e.name === answer.kelurahan && e.kecamatanName === answer.kecamatan) return e.code;
  return null;
}

async function showAnswer(path, { quiet = false, focus = false, fromMap = false } = {}) {
  if (!quiet) message(t("asking"));
  try {
    const { body } = await getJSON(path, { revalidate: quiet });
    renderAnswer($("answer"), body);
    if (!quiet) message();
    const code = codeOf(body);
    if (code) {
      if (state.map) state.map.select(code, { focus: focus && !fromMap });
      state.open = { code };
      saved("pantau.kelurahan", code);
      if (location.hash !== "#" + encodeURI(code)) history.replaceState(null, "", "#" + encodeURI(code));
    }
    if (!quiet) $("answer").focus(); // read out by screen readers; on a phone it scrolls the answer into view
  } catch (e) {
    if (quiet) return;
    if (e instanceof HttpError) showProblem(e);
    else message(t("offline"));
  }
}

function showProblem(e) {
  const b = e.body || {};
  if (e.status === 404 && b.suggestions) {
    const sugg = b.suggestions.map((s) => h("button", { type: "button", class: "link", onclick: () => askName(s) }, s));
    message(
      t("notFound", { q: $("q").value.trim() }),
      sugg.length ? " " + t("didYouMean") + " " : "",
      ...sugg.flatMap((x, i) => (i ? [", ", x] : [x])),
    );
  } else if (e.status === 409 && b.kecamatan) {
    const name = $("q").value.trim();
    message(
      t("whichKec") + " ",
      ...b.kecamatan.flatMap((kec, i) => [
        i ? ", " : "",
        h(
          "button",
          {
            type: "button",
            class: "link",
            onclick: () => showAnswer(`kelurahan/${encodeURIComponent(name)}?lang=${lang()}&kecamatan=${encodeURIComponent(kec)}`),
          },
          `${name} (${t("kec")} ${kec})`,
        ),
      ]),
    );
  } else message(b.detail || t("offline"));
}

function openArea(code, opts = {}) {
  return showAnswer(areaQuery(code), opts);
}

/** Free text from the search box: the unique name if it is one, the choices if it is in two kecamatan. */
function askName(text) {
  const k = norm(text);
  if (!k) return message(t("typeSome"));
  const exact = state.entries.filter((e) => e.key === k);
  if (exact.length === 1) return openArea(exact[0].code, { focus: true });
  if (exact.length > 1) {
    return message(
      t("whichKec") + " ",
      ...exact.flatMap((e, i) => [
        i ? ", " : "",
        h(
          "button",
          { type: "button", class: "link", onclick: () => openArea(e.code, { focus: true }) },
          `${e.name} (${t("kec")} ${e.kecamatanName})`,
        ),
      ]),
    );
  }
  return showAnswer(`kelurahan/${encodeURIComponent(text.trim())}?lang=${lang()}`, { focus: true });
}

function locate() {
  if (!navigator.geolocation) return message(t("noGeo"));
  message(t("locating"));
  navigator.geolocation.getCurrentPosition(
    (p) => {
      const { latitude: lat, longitude: lon } = p.coords;
      showAnswer(`location?lat=${lat.toFixed(5)}&lon=${lon.toFixed(5)}&lang=${lang()}`, { focus: true });
    },
    (err) => message(err.code === err.PERMISSION_DENIED ? t("geoDenied") : t("geoFailed")),
    { enableHighAccuracy: false, timeout: 15000, maximumAge: 300000 },
  );
}

// --- language ------------------------------------------------------------------------------
function switchLang(l) {
  setLang(l);
  saved("pantau.lang", l);
  for (const b of document.querySelectorAll("[data-lang]")) b.setAttribute("aria-pressed", String(b.dataset.lang === l));
  translatePage();
  if (state.status) applyStatus(state.status);
  if (state.open) openArea(state.open.code, { quiet: true });
}

// --- start -----------------------------------------------------------------------------------
function indexNames(areas) {
  const kecName = new Map(areas.kecamatan.map((k) => [k.code, k.name]));
  state.entries = areas.kelurahan.map((k) => ({
    code: k.code,
    name: k.name,
    kecamatanName: kecName.get(k.kecamatan) || k.kecamatan,
    key: norm(k.name),
  }));
  state.entries.sort((a, b) => a.name.localeCompare(b.name, "id"));
  state.names = new Map(state.entries.map((e) => [e.code, e]));
}

async function loadMap() {
  try {
    const { body: areas } = await getJSON("areas");
    indexNames(areas);
    state.map = createMap($("map"), areas, (code, opts) => openArea(code, opts));
    if (state.status) applyStatus(state.status);
    return true;
  } catch {
    $("map").replaceChildren(h("p", { class: "map-loading" }, t("mapFailed")));
    // the search still needs the names
    try {
      const { body } = await getJSON("kelurahan");
      state.entries = body.map((k) => ({ code: null, name: k.kelurahan, kecamatanName: k.kecamatan, key: norm(k.kelurahan) }));
    } catch {
      /* offline: the search asks the server by name */
    }
    return false;
  }
}

function start() {
  const stored = saved("pantau.lang");
  const wanted = new URLSearchParams(location.search).get("lang") || stored || "id";
  if (LANGS.includes(wanted) && wanted !== "id") switchLang(wanted);

  const island = $("pantau-status");
  try {
    const doc = JSON.parse(island.textContent);
    if (doc && doc.kelurahan) applyStatus(doc);
  } catch {
    // a page without the status block (e.g. served by something else): the first poll fills it in
  }

  setupSearch(
    $("q"),
    $("q-list"),
    () => state.entries,
    (code, opts, entry) => (code ? openArea(code, opts) : askName(entry.name)),
  );
  $("ask").addEventListener("submit", (ev) => {
    ev.preventDefault();
    askName($("q").value);
  });
  $("here").addEventListener("click", locate);
  for (const b of document.querySelectorAll("[data-lang]")) b.addEventListener("click", () => switchLang(b.dataset.lang));
  for (const b of document.querySelectorAll("[data-zoom]")) {
    b.addEventListener("click", () => state.map && state.map.zoom(b.dataset.zoom));
  }

  loadMap().then(() => {
    const fromHash = decodeURI(location.hash.slice(1));
    const code = state.names.has(fromHash) ? fromHash : saved("pantau.kelurahan");
    if (code && state.names.has(code)) openArea(code, { quiet: true });
  });

  let timer = setInterval(tick, POLL_MS);
  function tick() {
    pollStatus();
    if (state.open) openArea(state.open.code, { quiet: true });
  }
  document.addEventListener("visibilitychange", () => {
    clearInterval(timer);
    if (document.visibilityState === "visible") {
      tick();
      timer = setInterval(tick, POLL_MS);
    }
  });
}

start();
