// The NOC console's entry: the operator's key, the language, the live stream, and a hash router
// over the screens (#/map, #/incidents, #/hotspots, #/hotspot/<id>, #/grid, #/services,
// #/availability, #/suspects, #/wall). Everything re-renders in the other language at the switch.

import { store } from "./store.js";
import { getKey, setKey, stream, ApiError } from "./api.js";
import { t, lang, setLang, applyStatic } from "./i18n.js";
import { el, fill, $, $$, debounce } from "./util.js";
import { overviewView } from "./overview.js";
import { incidentsView } from "./incidents.js";
import { tableView } from "./table.js";
import { hotspotView } from "./hotspot.js";
import { gridView } from "./grid.js";
import { servicesView } from "./services.js";
import { availabilityView } from "./availability.js";
import { suspectsView } from "./suspects.js";
import { wallView } from "./wall.js";

const ROUTES = {
  map: overviewView,
  incidents: incidentsView,
  hotspots: tableView,
  hotspot: hotspotView,
  grid: gridView,
  services: servicesView,
  availability: availabilityView,
  suspects: suspectsView,
  wall: wallView,
};
const NAV = ["map", "incidents", "hotspots", "grid", "services", "availability", "suspects", "wall"];

const app = $("#app");
let cleanup = null;
let stopStream = null;
let generation = 0;
let ready = false;
let liveState = "connecting";

function parseHash() {
  const h = location.hash.startsWith("#/") ? location.hash.slice(2) : "map";
  const [path, query] = h.split("?");
  const [name, ...rest] = path.split("/");
  return { name: ROUTES[name] ? name : "map", arg: decodeURIComponent(rest.join("/")), params: new URLSearchParams(query || "") };
}

function route() {
  if (!ready) return;
  const { name, arg, params } = parseHash();
  if (cleanup) cleanup();
  cleanup = null;
  document.body.dataset.view = name;
  for (const a of $$("#nav a")) {
    if (a.dataset.route === (name === "hotspot" ? "hotspots" : name)) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  fill(app);
  cleanup = ROUTES[name](app, params, arg) || null;
}

function drawShell() {
  applyStatic();
  fill(
    $("#nav ul"),
    NAV.map((r) => el("li", el("a", { href: `#/${r}`, dataset: { route: r } }, t(`nav.${r}`)))),
  );
  const l = $("#lang");
  l.textContent = t("lang.switch");
  l.setAttribute("aria-label", t("lang.label"));
  l.setAttribute("lang", lang() === "id" ? "en" : "id");
  $("#keybtn").textContent = getKey() ? t("key.change") : t("key.title");
  drawLive();
}

function drawLive() {
  const n = $("#live");
  n.className = `live live-${liveState}`;
  n.textContent = t(`live.${liveState}`);
}

function keyScreen(problem = "") {
  ready = false;
  generation++; // a start() still loading gives up
  if (cleanup) cleanup();
  cleanup = null;
  if (stopStream) stopStream();
  stopStream = null;
  document.body.classList.remove("wall");
  const input = el("input#key-input", { type: "password", autocomplete: "off", spellcheck: "false", required: true, size: "40" });
  fill(
    app,
    el(
      "section.keyscreen",
      el("h2", t("key.title")),
      el("p", t("key.intro")),
      el(
        "form#keyform",
        {
          on: {
            submit: (e) => {
              e.preventDefault();
              setKey(input.value);
              start();
            },
          },
        },
        el("label", { for: "key-input" }, t("key.label")),
        input,
        el("button.primary", { type: "submit" }, t("key.connect")),
      ),
      problem ? el("p.err", { role: "alert" }, problem) : null,
    ),
  );
  input.focus();
}

// Subscribe, then read: the stream is opened first and the first view is loaded only after its
// "hello" (the point it resumes from), so no change falls between the two. Events that arrive while
// the view loads wait in a queue and are applied after it; a later "hello" is a reconnect (or a
// stream that came up only after the view was read) and re-reads everything.
async function start() {
  if (!getKey()) return keyScreen();
  fill(app, el("p.muted.loading", t("common.loading")));
  ready = false;
  const gen = ++generation; // a newer start() (another key) makes this one give up
  if (stopStream) stopStream();
  // a read that fails (a busy or restarting API) is tried again in 2 s, not left to the minute's resync
  const counts = document.body.dataset;
  const refreshIncidents = debounce(
    () =>
      store.refreshIncidents().then(
        () => (counts.incidentReads = String(Number(counts.incidentReads || 0) + 1)),
        () => {
          counts.incidentReadsFailed = String(Number(counts.incidentReadsFailed || 0) + 1);
          setTimeout(refreshIncidents, 2000);
        },
      ),
    250,
    1000,
  );
  const handle = (type, data) => {
    counts.events = String(Number(counts.events || 0) + 1);
    if (type === "incident") refreshIncidents();
    else if (type === "hotspot_state" || type === "grid_state") store.apply(type, data);
  };
  let queue = []; // events before the first view is read (null after)
  let loading = false;
  let missed = false; // the stream's start came after the view's reads began
  let helloSeen;
  const firstHello = new Promise((resolve) => (helloSeen = resolve));
  stopStream = stream(
    (type, data) => {
      if (type === "auth") return keyScreen(t("key.refused"));
      if (type === "hello") {
        helloSeen();
        if (ready) store.resync().catch(() => {});
        else if (loading) missed = true;
        return;
      }
      if (queue) queue.push([type, data]);
      else handle(type, data);
    },
    (s) => {
      liveState = s;
      if (ready) drawLive();
    },
  );
  // a stream that cannot connect does not keep the console from showing what the API knows
  await Promise.race([firstHello, new Promise((r) => setTimeout(r, 3000))]);
  if (gen !== generation) return;
  loading = true;
  try {
    await store.load();
  } catch (e) {
    if (gen !== generation) return;
    if (stopStream) stopStream();
    stopStream = null;
    if (e instanceof ApiError && (e.status === 401 || e.status === 403)) {
      setKey("");
      return keyScreen(e.status === 401 ? t("key.refused") : e.message);
    }
    return keyScreen(t("key.down", { err: e.message }));
  }
  if (gen !== generation) return;
  ready = true;
  drawShell();
  route();
  for (const [type, data] of queue) handle(type, data);
  queue = null;
  if (missed) store.resync().catch(() => {});
}

// a slow full re-read repairs anything missed (the stream resumes incidents, not states)
setInterval(() => {
  if (ready && !document.hidden) store.resync().catch(() => {});
}, 60000);

window.addEventListener("hashchange", () => {
  if (!location.hash.startsWith("#/")) return; // in-page anchors (the skip link)
  route();
});
$("#lang").addEventListener("click", () => {
  setLang(lang() === "id" ? "en" : "id");
  drawShell();
  if (ready) route();
  else keyScreen();
});
$("#skip").addEventListener("click", (e) => {
  e.preventDefault(); // the hash is the router's
  app.focus();
});
$("#keybtn").addEventListener("click", () => {
  setKey("");
  keyScreen();
});
document.documentElement.lang = lang();
drawShell();
start();
