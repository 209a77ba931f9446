// The wall screen (#/wall): no controls, large type, the map over the whole left side, the state
// counts and the open incidents beside it. It rotates by itself: the whole city, then each open
// incident in turn (its hotspots highlighted and zoomed to), every 15 s; the e-gov services below.
// Esc (or the hidden link, for keyboards) leaves it.

import { store } from "./store.js";
import { CityMap } from "./map.js";
import { api } from "./api.js";
import { t, lang } from "./i18n.js";
import { el, fill, wib, since, num, causeBadge } from "./util.js";

const ROTATE_MS = 15000;

export function wallView(root) {
  document.body.classList.add("wall");
  const map = new CityMap({ wall: true });
  const clock = el("span.clock");
  const counts = el("div.wcounts");
  const incs = el("div.wincs");
  const svcs = el("div.wsvcs");
  fill(
    root,
    el(
      "div.wallgrid",
      el("header.whead", el("h2", t("wall.title")), clock, el("a.sr-only.sr-focusable", { href: "#/map" }, t("wall.exit"))),
      map.node,
      el("aside.wside", counts, incs, svcs),
    ),
  );
  let turn = 0;
  let focused = null;

  function drawCounts() {
    const c = store.counts();
    fill(
      counts,
      ["down", "degraded", "unknown", "up"].map((s) => el(`div.wc.st-${s}`, { dataset: { state: s } }, el("b", num(c[s])), el("span", t("health." + s)))),
    );
  }
  function drawIncs() {
    const items = store.incidents.slice(0, 6);
    fill(
      incs,
      el("h3", t("wall.open"), ` (${store.incidents.length})`),
      items.length
        ? items.map((i) =>
            el(
              `div.wi.sev-${i.severity}`,
              { class: focused === i.id ? "focused" : "", dataset: { incident: i.id } },
              el("div", causeBadge(i.cause), " ", el("b", i.root)),
              el("div", t("inc.affected", { n: num(i.affected_hotspots) }), " · ", t("inc.for", { d: since(i.opened_at) }), i.acknowledged ? " · ✔ " + t("inc.acked") : ""),
              el("div.muted", i.explanation[lang()] || i.explanation.id),
            ),
          )
        : el("p.allok", "✔ " + t("wall.none")),
    );
  }
  async function drawSvcs() {
    try {
      const rows = await api("services");
      fill(svcs, el("h3", t("svc.title")), el("ul", rows.map((s) => el(`li.st-${s.state}`, el(`span.sw.st-${s.state}`, { "aria-hidden": "true" }), `${s.name}: ${t("health." + s.state)}`))));
    } catch {
      /* the next turn tries again */
    }
  }
  async function rotate() {
    const list = store.incidents;
    const n = list.length + 1;
    turn = (turn + 1) % n;
    if (turn === 0 || !list[turn - 1]) {
      focused = null;
      map.highlight(null);
      map.reset();
    } else {
      const inc = list[turn - 1];
      focused = inc.id;
      try {
        map.highlight(await api(`incidents/${encodeURIComponent(inc.id)}`));
      } catch {
        focused = null;
      }
    }
    drawIncs();
    drawSvcs();
  }
  const tick = () => (clock.textContent = wib(Date.now() / 1000, true));
  tick();
  drawCounts();
  drawIncs();
  drawSvcs();
  const timers = [setInterval(tick, 1000), setInterval(rotate, ROTATE_MS)];
  const onKey = (e) => {
    if (e.key === "Escape") location.hash = "#/map";
  };
  document.addEventListener("keydown", onKey);
  store.addEventListener("hotspots", drawCounts);
  store.addEventListener("incidents", drawIncs);
  return () => {
    document.body.classList.remove("wall");
    timers.forEach(clearInterval);
    document.removeEventListener("keydown", onKey);
    store.removeEventListener("hotspots", drawCounts);
    store.removeEventListener("incidents", drawIncs);
    map.destroy();
  };
}
