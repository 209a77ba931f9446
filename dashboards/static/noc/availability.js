// Availability accounted by cause (GET /api/v1/availability): the city's figure with and without
// planned maintenance, its downtime split by cause, and the same per group (kecamatan, feeder,
// switch, vendor, …) for today or this month; the CSV for a spreadsheet.

import { api } from "./api.js";
import { t } from "./i18n.js";
import { el, fill, wib, num, pct, download } from "./util.js";

const CAUSES = ["power_grid", "planned_maintenance", "network_uplink", "device", "service", "unknown"];
const BY = ["kecamatan", "kelurahan", "feeder", "transformer", "switch", "vendor"];

function wibToday() {
  return new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Jakarta", year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date());
}

export function availabilityView(root, params) {
  let by = params.get("by") || "kecamatan";
  let period = params.get("period") || "day";
  const periodSel = el(
    "select#av-period",
    { on: { change: () => ((period = periodSel.value), load()) } },
    el("option", { value: "day" }, t("av.today")),
    el("option", { value: "month" }, t("av.month")),
  );
  const bySel = el("select#av-by", { on: { change: () => ((by = bySel.value), load()) } }, BY.map((b) => el("option", { value: b }, t("table." + b) || b)));
  periodSel.value = period;
  bySel.value = by;
  const csv = el("button", { type: "button", on: { click: () => getCsv() } }, t("av.csv"));
  const body = el("div#availability");
  fill(
    root,
    el(
      "section.page",
      el("div.toolbar", el("h2", t("av.title")), el("label", { for: "av-period" }, t("av.period")), periodSel, el("label", { for: "av-by" }, t("av.by")), bySel, csv),
      body,
    ),
  );
  const q = () => {
    const today = wibToday();
    return `by=${by}&period=${period === "day" ? today : today.slice(0, 7)}`;
  };

  async function getCsv() {
    try {
      download(`availability-${by}.csv`, await api(`availability?${q()}&format=csv`, { raw: true }));
    } catch (e) {
      csv.textContent = e.message;
    }
  }

  const bar = (mins, total) => {
    const b = el("span.bar", { role: "img", "aria-label": CAUSES.filter((c) => mins[c]).map((c) => `${t("cause." + c)} ${num(mins[c], 1)}`).join(", ") || "0" });
    for (const c of CAUSES) {
      if (!mins[c] || !total) continue;
      const seg = el(`span.seg.c-${c}`);
      seg.style.width = Math.max(0.5, (mins[c] / total) * 100) + "%";
      b.append(seg);
    }
    return b;
  };

  async function load() {
    fill(body, el("p.muted", t("common.loading")));
    history.replaceState(null, "", `#/availability?by=${by}&period=${period}`);
    try {
      const d = await api(`availability?${q()}`);
      const city = d.city;
      const maxDown = Math.max(1, ...d.rows.map((r) => r.down_minutes));
      const rows = [...d.rows].sort((a, b) => b.down_minutes - a.down_minutes || (a.availability_pct ?? 101) - (b.availability_pct ?? 101));
      fill(
        body,
        el(
          "div.avcity",
          el("div.big", el("span.label", t("av.availability")), el("b", pct(city.availability_pct, 3))),
          el("div.big", el("span.label", t("av.exclPlanned")), el("b", pct(city.availability_excl_planned_pct, 3))),
          el("div.big", el("span.label", t("av.downtime")), el("b", num(city.down_minutes, 1))),
          el("p.muted", d.watched_from ? t("av.watched", { from: wib(d.watched_from), to: wib(d.watched_to) }) : t("av.notWatched")),
        ),
        el(
          "div.causes",
          bar(city.downtime_minutes, city.down_minutes),
          el(
            "ul.keys",
            CAUSES.map((c) => el("li", el(`span.sw.c-${c}`, { "aria-hidden": "true" }), `${t("cause." + c)}: ${num(city.downtime_minutes[c], 1)}`)),
          ),
        ),
        el(
          "div.scroller.av",
          { tabindex: "0", role: "region", "aria-label": t("av.title") },
          el(
            "table.avtable",
            el(
              "thead",
              el(
                "tr",
                ["av.group", "av.hotspots", "av.availability", "av.exclPlanned", "av.downtime"].map((k) => el("th", { scope: "col" }, t(k))),
                CAUSES.map((c) => el("th", { scope: "col" }, t("cause." + c))),
              ),
            ),
            el(
              "tbody",
              rows.map((r) => {
                const b = bar(r.downtime_minutes, maxDown);
                return el(
                  "tr",
                  el("th", { scope: "row" }, r.name || r.group),
                  el("td.n", num(r.hotspots)),
                  el("td.n", pct(r.availability_pct, 3)),
                  el("td.n", pct(r.availability_excl_planned_pct, 3)),
                  el("td", el("span.n", num(r.down_minutes, 1)), " ", b),
                  CAUSES.map((c) => el("td.n", num(r.downtime_minutes[c], 1))),
                );
              }),
            ),
          ),
        ),
      );
    } catch (e) {
      fill(body, el("p.err", t("common.error", { err: e.message })));
    }
  }
  load();
  const timer = setInterval(load, 60000);
  return () => clearInterval(timer);
}
