// The PLN grid as Pantau knows it: substation → feeder → transformer, each with its power state,
// since when, why, voltage and breaker, and the hotspots it feeds (how many are down); PLN's
// maintenance notices. Live: grid_state events redraw it.

import { store } from "./store.js";
import { api } from "./api.js";
import { t } from "./i18n.js";
import { el, fill, wib, since, num, perFrame } from "./util.js";

export function gridView(root) {
  let onlyProblems = false;
  const open = new Set();
  const tree = el("div.tree#gridtree");
  const summary = el("p.summary");
  const notices = el("section.notices");
  const problems = el("input#grid-problems", { type: "checkbox", on: { change: () => ((onlyProblems = problems.checked), draw()) } });
  fill(
    root,
    el(
      "section.page",
      el("div.toolbar", el("h2", t("grid.title")), el("label.check", problems, " ", t("grid.problems")),
        el("button", { type: "button", on: { click: () => setAll(true) } }, t("grid.expand")),
        el("button", { type: "button", on: { click: () => setAll(false) } }, t("grid.collapse"))),
      summary,
      tree,
      notices,
    ),
  );

  function setAll(v) {
    for (const d of tree.querySelectorAll("details")) {
      d.open = v;
      if (v) open.add(d.dataset.element);
      else open.delete(d.dataset.element);
    }
  }

  const draw = perFrame(() => {
    const kids = new Map();
    const counts = { energized: 0, "de-energized": 0, unknown: 0 };
    for (const g of store.grid.values()) {
      counts[g.state] = (counts[g.state] || 0) + 1;
      if (g.parent) {
        if (!kids.has(g.parent)) kids.set(g.parent, []);
        kids.get(g.parent).push(g);
      }
    }
    const hs = new Map(); // transformer -> [n, down]
    for (const h of store.hotspots) {
      const k = "transformer:" + h.transformer;
      const c = hs.get(k) || [0, 0];
      c[0]++;
      if (h.state === "down") c[1]++;
      hs.set(k, c);
    }
    const tally = (g) => {
      if (g.kind === "transformer") return hs.get(g.element) || [0, 0];
      return (kids.get(g.element) || []).reduce((a, k) => {
        const c = tally(k);
        return [a[0] + c[0], a[1] + c[1]];
      }, [0, 0]);
    };
    const bad = (g) => g.state !== "energized" || (kids.get(g.element) || []).some(bad);
    const node = (g) => {
      if (onlyProblems && !bad(g)) return null;
      const [n, down] = tally(g);
      const children = (kids.get(g.element) || []).sort((a, b) => a.element.localeCompare(b.element, "id", { numeric: true }));
      const count = t("grid.hotspots", { n: num(n), down: num(down) });
      const href = `#/hotspots?${g.kind === "feeder" ? "feeder" : "q"}=${encodeURIComponent(g.element.split(":")[1])}`;
      // a summary must hold no link of its own (nested controls): an opened feeder lists it first
      const label = el(
        "span.gnode",
        el(`span.badge.pw-${g.state.replace("-", "")}`, { dataset: { state: g.state } }, t("power." + g.state)),
        " ",
        el("b", g.element.split(":")[1]),
        " ",
        el("span.muted", t("grid." + g.kind)),
        " · ",
        children.length ? el("span", count) : el("a", { href }, count),
        g.voltage_v !== null && g.voltage_v !== undefined ? ` · ${t("grid.voltage", { v: num(g.voltage_v, 0) })}` : "",
        g.breaker_closed === false ? ` · ${t("grid.breakerOpen")}` : "",
        g.since ? ` · ${t("inc.since", { t: wib(g.since) })} (${since(g.since)})` : "",
        g.reason ? el("span.muted", ` — ${g.reason}`) : "",
      );
      if (!children.length) return el("li", { dataset: { element: g.element } }, label);
      const d = el(
        "details",
        { dataset: { element: g.element }, open: open.has(g.element) || (onlyProblems && bad(g)) },
        el("summary", label),
        el("ul", g.kind === "feeder" ? el("li.more", el("a", { href }, "→ " + count)) : null, children.map(node)),
      );
      d.addEventListener("toggle", () => (d.open ? open.add(g.element) : open.delete(g.element)));
      return el("li", d);
    };
    const subs = [...store.grid.values()].filter((g) => g.kind === "substation").sort((a, b) => a.element.localeCompare(b.element));
    fill(tree, el("ul.root", subs.map(node)));
    summary.textContent = t("grid.summary", { e: num(counts.energized), d: num(counts["de-energized"]), u: num(counts.unknown) });
  });

  async function loadNotices() {
    try {
      const rows = await api("notices");
      fill(
        notices,
        el("h3", t("grid.notices")),
        rows.length
          ? el(
              "ul",
              rows.map((n) =>
                el(
                  "li",
                  el("b", n.element),
                  ` ${wib(n.start)} – ${wib(n.end)} · ${n.reason} (${n.issuer}) `,
                  n.active ? el("span.badge.pw-deenergized", t("grid.active")) : "",
                ),
              ),
            )
          : el("p.muted", t("grid.noNotices")),
      );
    } catch (e) {
      fill(notices, el("p.err", t("common.error", { err: e.message })));
    }
  }

  draw();
  loadNotices();
  store.addEventListener("grid", draw);
  store.addEventListener("hotspots", draw);
  return () => {
    store.removeEventListener("grid", draw);
    store.removeEventListener("hotspots", draw);
  };
}
