// Inventory suspects (GET /api/v1/inventory/suspects): hotspots whose listed transformer or switch
// the incidents' evidence contradicts, most confident first, with the evidence to review and the
// corrections CSV. Pantau never applies them: people check in the field and fix hotspots.csv.

import { api } from "./api.js";
import { t } from "./i18n.js";
import { el, fill, wib, num, download } from "./util.js";

export function suspectsView(root) {
  const body = el("div#suspects");
  const csv = el("button", { type: "button", on: { click: () => getCsv() } }, t("sus.csv"));
  fill(root, el("section.page", el("div.toolbar", el("h2", t("sus.title")), csv), el("p.muted", t("sus.intro")), body));

  async function getCsv() {
    try {
      download("hotspots-corrections.csv", await api("inventory/suspects?format=csv", { raw: true }));
    } catch (e) {
      csv.textContent = e.message;
    }
  }

  async function load() {
    try {
      const rows = await api("inventory/suspects");
      if (!rows.length) return fill(body, el("p.empty", t("sus.none")));
      fill(
        body,
        el(
          "table.suspects",
          el(
            "thead",
            el("tr", ["hotspot", "field", "listed", "likely", "confidence", "incidents", "kinds", "last", "evidence"].map((k) => el("th", { scope: "col" }, t("sus." + k)))),
          ),
          el(
            "tbody",
            rows.map((r) => {
              const meter = el("meter", { min: "0", max: "1", value: String(r.confidence), "aria-label": t("sus.confidence") });
              return el(
                "tr",
                { dataset: { hotspot: r.hotspot } },
                el("th", { scope: "row" }, el("a", { href: `#/hotspot/${encodeURIComponent(r.hotspot)}` }, r.hotspot)),
                el("td", t("table." + r.field)),
                el("td", r.inventory),
                el("td", r.likely || el("span.muted", t("sus.unknown"))),
                el("td", meter, " ", num(r.confidence * 100, 0) + " %"),
                el("td.n", num(r.incidents)),
                el("td", r.kinds.map((k) => t("sus." + k)).join(", ")),
                el("td", wib(r.last_at)),
                el(
                  "td",
                  el(
                    "details",
                    el("summary", `${r.evidence.length}`),
                    el("ul", r.evidence.map((e) => el("li", `${wib(e.at)} · ${e.incident} (${e.root}): ${e.text}`))),
                  ),
                ),
              );
            }),
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
