// Every hotspot in one table: search, filters (state, kecamatan, vendor, switch, feeder), sort by
// any column, and only the rows in sight rendered (spacer rows above and below keep the scroll
// height), so 2,300 rows — or 23,000 — stay fast. Filters live in the URL (#/hotspots?state=down).

import { store } from "./store.js";
import { t } from "./i18n.js";
import { el, fill, badge, since, num, perFrame, debounce } from "./util.js";

const ROW_H = 34;
const OVERSCAN = 12;
const RANK = { down: 0, degraded: 1, unknown: 2, up: 3 };
const COLS = [
  ["state", "table.state", (h) => RANK[h.state] ?? 9],
  ["id", "table.id", (h) => h.id],
  ["name", "table.name", (h) => h.name],
  ["kecamatan", "table.kecamatan", (h) => h.kecamatan_name],
  ["kelurahan", "table.kelurahan", (h) => h.kelurahan],
  ["vendor", "table.vendor", (h) => h.vendor + " " + h.model],
  ["switch", "table.switch", (h) => h.switch],
  ["feeder", "table.feeder", (h) => h.feeder + "/" + h.transformer],
  ["since", "table.since", (h) => -(h.since || 0)],
  ["reason", "table.reason", (h) => h.reason || ""],
];

export function tableView(root, params) {
  const f = {
    q: params.get("q") || "",
    state: params.get("state") || "",
    kecamatan: params.get("kecamatan") || "",
    vendor: params.get("vendor") || "",
    switch: params.get("switch") || "",
    feeder: params.get("feeder") || "",
  };
  let sort = { key: params.get("sort") || "state", dir: params.get("dir") === "desc" ? -1 : 1 };
  let rows = [];

  const uniq = (fn) => [...new Set(store.hotspots.map(fn))].sort((a, b) => String(a).localeCompare(String(b), "id", { numeric: true }));
  const kecs = [...new Map(store.hotspots.map((h) => [h.kecamatan, h.kecamatan_name])).entries()].sort((a, b) => a[1].localeCompare(b[1]));
  const select = (key, label, options) => {
    const s = el(
      `select#f-${key}`,
      { on: { change: () => ((f[key] = s.value), update()) } },
      el("option", { value: "" }, t("table.any")),
      options.map(([v, text]) => el("option", { value: v }, text)),
    );
    s.value = f[key];
    return el("div.field", el("label", { for: `f-${key}` }, t(label)), s);
  };
  const search = el("input#f-q", { type: "search", value: f.q, placeholder: t("table.search"), autocomplete: "off", on: { input: debounce(() => ((f.q = search.value), update()), 120) } });
  const count = el("p.count#table-count", { role: "status", "aria-live": "polite" });
  const clear = el("button", { type: "button", on: { click: () => (location.hash = "#/hotspots") } }, t("table.clear"));
  const filters = el(
    "div.filters",
    el("div.field.grow", el("label", { for: "f-q" }, t("table.search")), search),
    select("state", "table.state", ["down", "degraded", "unknown", "up"].map((s) => [s, t("health." + s)])),
    select("kecamatan", "table.kecamatan", kecs),
    select("vendor", "table.vendor", uniq((h) => h.vendor).map((v) => [v, v])),
    select("switch", "table.switch", uniq((h) => h.switch).map((v) => [v, v])),
    select("feeder", "table.feeder", uniq((h) => h.feeder).map((v) => [v, v])),
    clear,
  );

  const headCells = COLS.map(([key, label]) => {
    const b = el("button.sort", { type: "button", on: { click: () => setSort(key) } }, t(label));
    return el("th", { scope: "col", dataset: { col: key } }, b);
  });
  const top = el("tr.spacer", { "aria-hidden": "true" }, el("td", { colspan: String(COLS.length) }));
  const bottom = el("tr.spacer", { "aria-hidden": "true" }, el("td", { colspan: String(COLS.length) }));
  const tbody = el("tbody");
  const table = el("table.hstable#hstable", { "aria-describedby": "table-count" }, el("thead", el("tr", headCells)), tbody);
  const scroller = el("div.scroller", { tabindex: "0", role: "region", "aria-label": t("table.title") }, table);
  fill(root, el("section.tableview", el("h2", t("table.title")), filters, count, scroller));

  function setSort(key) {
    sort = sort.key === key ? { key, dir: -sort.dir } : { key, dir: 1 };
    update();
  }

  function matches(h) {
    if (f.state && h.state !== f.state) return false;
    if (f.kecamatan && h.kecamatan !== f.kecamatan) return false;
    if (f.vendor && h.vendor !== f.vendor) return false;
    if (f.switch && h.switch !== f.switch) return false;
    if (f.feeder && h.feeder !== f.feeder) return false;
    if (f.q) {
      const q = f.q.toLowerCase();
      const hay = `${h.id} ${h.name} ${h.kelurahan} ${h.kecamatan_name} ${h.address} ${h.model} ${h.transformer} ${h.switch}`.toLowerCase();
      if (!q.split(/\s+/).every((w) => hay.includes(w))) return false;
    }
    return true;
  }

  function update() {
    const fn = COLS.find((c) => c[0] === sort.key)[2];
    rows = store.hotspots.filter(matches);
    rows.sort((a, b) => {
      const x = fn(a), y = fn(b);
      const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), "id", { numeric: true });
      return c * sort.dir || a.id.localeCompare(b.id, "id", { numeric: true });
    });
    for (const th of headCells) {
      th.setAttribute("aria-sort", th.dataset.col === sort.key ? (sort.dir > 0 ? "ascending" : "descending") : "none");
    }
    count.textContent = t("table.count", { n: num(rows.length), total: num(store.hotspots.length) });
    table.dataset.rows = String(rows.length);
    // the URL keeps the filters (shareable, survives a reload)
    const p = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
    if (sort.key !== "state" || sort.dir < 0) p.set("sort", sort.key);
    if (sort.dir < 0) p.set("dir", "desc");
    const h = "#/hotspots" + (p.toString() ? "?" + p : "");
    if (location.hash !== h) history.replaceState(null, "", h);
    draw();
  }

  const draw = perFrame(() => {
    const first = Math.max(0, Math.floor(scroller.scrollTop / ROW_H) - OVERSCAN);
    const visible = Math.ceil((scroller.clientHeight || 600) / ROW_H) + 2 * OVERSCAN;
    const last = Math.min(rows.length, first + visible);
    top.firstChild.style.height = first * ROW_H + "px";
    bottom.firstChild.style.height = (rows.length - last) * ROW_H + "px";
    const out = [top];
    for (let i = first; i < last; i++) out.push(row(rows[i]));
    out.push(bottom);
    tbody.replaceChildren(...out);
  });

  function row(h) {
    const link = el("a", { href: `#/hotspot/${encodeURIComponent(h.id)}` }, h.id);
    return el(
      "tr",
      { dataset: { id: h.id, state: h.state } },
      el("td", badge(h.state)),
      el("th", { scope: "row" }, link),
      el("td", h.name),
      el("td", h.kecamatan_name),
      el("td", h.kelurahan),
      el("td", `${h.vendor} ${h.model}`),
      el("td", h.switch),
      el("td", `${h.feeder} / ${h.transformer}`),
      el("td", since(h.since)),
      el("td.reason", h.reason || ""),
    );
  }

  scroller.addEventListener("scroll", draw, { passive: true });
  const onHs = perFrame(() => update());
  store.addEventListener("hotspots", onHs);
  update();
  return () => store.removeEventListener("hotspots", onHs);
}
