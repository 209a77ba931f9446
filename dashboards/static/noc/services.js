// The e-government board: every service's state, HTTP status, latency, TLS certificate, error,
// uptime over 24 h / 7 d / 30 d. Re-read every 15 s (the probes' own pace).

import { api } from "./api.js";
import { t } from "./i18n.js";
import { el, fill, wib, since, num, badge } from "./util.js";

export function servicesView(root) {
  const board = el("div.board#services");
  const stamp = el("p.muted");
  fill(root, el("section.page", el("div.toolbar", el("h2", t("svc.title"))), stamp, board));
  const up = (v) => (v === null || v === undefined ? "–" : num(v * 100, 2) + " %");
  async function load() {
    try {
      const rows = await api("services");
      rows.sort((a, b) => ({ down: 0, degraded: 1, unknown: 2, up: 3 })[a.state] - ({ down: 0, degraded: 1, unknown: 2, up: 3 })[b.state] || a.name.localeCompare(b.name));
      fill(
        board,
        rows.map((s) =>
          el(
            `article.svc.st-${s.state}`,
            { dataset: { service: s.id } },
            el("h3", s.name),
            el("p", badge(s.state), s.since ? ` ${t("inc.since", { t: wib(s.since) })} (${since(s.since)})` : ""),
            el(
              "dl.facts",
              el("dt", t("svc.status")),
              el("dd", s.status_code ?? "–"),
              el("dt", t("svc.latency")),
              el("dd", s.latency_ms === null ? "–" : num(s.latency_ms, 0) + " ms"),
              el("dt", t("svc.tls")),
              el("dd", { class: s.cert_days_left !== null && s.cert_days_left < 14 ? "warn" : "" }, s.cert_days_left === null ? "–" : t("svc.tlsDays", { n: num(s.cert_days_left, 0) })),
              el("dt", t("svc.uptime")),
              el("dd", `24h ${up(s.uptime["24h"])} · 7d ${up(s.uptime["7d"])} · 30d ${up(s.uptime["30d"])}`),
              s.sla_days ? [el("dt", "SLA"), el("dd", t("svc.sla", { n: s.sla_days }))] : null,
              s.error ? [el("dt", t("svc.error")), el("dd.err", s.error)] : null,
            ),
          ),
        ),
      );
      stamp.textContent = t("common.updated", { t: wib(Date.now() / 1000, true) });
    } catch (e) {
      fill(board, el("p.err", t("common.error", { err: e.message })));
    }
  }
  load();
  const timer = setInterval(load, 15000);
  return () => clearInterval(timer);
}
