// One hotspot's page (#/hotspot/AP-0001): what it is and where, its health now, charts over a
// chosen range (clients, wired traffic, CPU and memory, SNMP round trip — uPlot, vendored), its
// state history as a band with the downtime's causes, its changes and its incidents.

import uPlot from "../vendor/uPlot.esm.js";
import { store } from "./store.js";
import { api } from "./api.js";
import { t, lang } from "./i18n.js";
import { el, svg, fill, wib, since, duration, num, bps, badge, causeBadge } from "./util.js";
import { incidentList } from "./incidents.js";

const RANGES = [
  ["r1h", 60],
  ["r6h", 360],
  ["r24h", 1440],
  ["r7d", 10080],
];
const COLOURS = { a: "#1f5fbf", b: "#b3541e", c: "#6a3d9a", d: "#2f7d32" };

export function hotspotView(root, params, id) {
  const h = store.byId.get(id);
  if (!h) {
    fill(root, el("section.page", el("h2", t("hs.notFound", { id })), el("a", { href: "#/hotspots" }, t("hs.back"))));
    return () => {};
  }
  let minutes = Number(params.get("minutes")) || 60;
  const charts = [];
  const head = el("div.hshead");
  const rangeBox = el(
    "div.range",
    { role: "group", "aria-label": t("hs.range") },
    el("span", t("hs.range") + ": "),
    RANGES.map(([key, m]) =>
      el("button", { type: "button", "aria-pressed": m === minutes ? "true" : "false", dataset: { minutes: String(m) }, on: { click: () => setRange(m) } }, t("hs." + key)),
    ),
  );
  const chartBox = el("div.charts#charts");
  const historyBox = el("section.history");
  fill(
    root,
    el(
      "section.page.hotspot",
      { dataset: { hotspot: id } },
      el("p", el("a", { href: "#/hotspots" }, "← " + t("hs.back")), " · ", el("a", { href: `#/map?hotspot=${encodeURIComponent(id)}` }, t("hs.showMap"))),
      head,
      rangeBox,
      chartBox,
      historyBox,
    ),
  );

  function renderHead() {
    const x = store.byId.get(id);
    fill(
      head,
      el("h2", `${x.id} · ${x.name}`, " ", badge(x.state)),
      el(
        "dl.facts.cols",
        el("dt", t("table.state")),
        el("dd", t("health." + x.state), x.since ? ` · ${t("inc.since", { t: wib(x.since) })} (${since(x.since)})` : "", x.reason ? ` — ${x.reason}` : ""),
        el("dt", t("hs.location")),
        el("dd", `${x.kelurahan}, ${x.kecamatan_name} (${num(x.lat, 4)}, ${num(x.lon, 4)})`),
        el("dt", t("table.model")),
        el("dd", `${x.vendor} ${x.model}`),
        el("dt", t("hs.address")),
        el("dd", x.address),
        el("dt", t("table.switch")),
        el("dd", el("a", { href: `#/hotspots?switch=${encodeURIComponent(x.switch)}` }, x.switch)),
        el("dt", `${t("table.feeder")} / ${t("table.transformer")}`),
        el("dd", el("a", { href: `#/hotspots?feeder=${encodeURIComponent(x.feeder)}` }, x.feeder), ` / ${x.transformer}`),
        el("dt", t("hs.ups")),
        el("dd", x.ups_minutes ? t("hs.upsMin", { n: x.ups_minutes }) : t("hs.upsNone")),
      ),
    );
  }

  function setRange(m) {
    minutes = m;
    for (const b of rangeBox.querySelectorAll("button")) b.setAttribute("aria-pressed", b.dataset.minutes === String(m) ? "true" : "false");
    history.replaceState(null, "", `#/hotspot/${encodeURIComponent(id)}?minutes=${m}`);
    load();
  }

  async function load() {
    fill(chartBox, el("p.muted", t("common.loading")));
    try {
      // two charts a row when there is room (figure padding, border and the gap: 40 px)
      const width = Math.max(320, Math.floor((chartBox.clientWidth || 900) / (chartBox.clientWidth > 1100 ? 2 : 1)) - 40);
      const [series, states] = await Promise.all([
        api(`hotspots/${encodeURIComponent(id)}/series?minutes=${minutes}&points=${Math.min(600, Math.floor(width / 2))}`),
        api(`hotspots/${encodeURIComponent(id)}/states?minutes=${minutes}`),
      ]);
      drawCharts(series, width);
      drawHistory(states);
    } catch (e) {
      fill(chartBox, el("p.err", t("common.error", { err: e.message })));
    }
  }

  function drawCharts(d, width) {
    for (const c of charts.splice(0)) c.destroy();
    fill(chartBox);
    if (!d.available) chartBox.append(el("p.warn", t("hs.noInflux")));
    else if (!d.time.length) chartBox.append(el("p.muted", t("hs.noData")));
    const s = d.series;
    const specs = [
      ["clients", t("hs.clients"), [[t("hs.clients"), s.clients, COLOURS.a]], (v) => num(v, 0)],
      ["traffic", t("hs.traffic"), [[t("hs.rx"), s.rx_bps, COLOURS.a], [t("hs.tx"), s.tx_bps, COLOURS.b]], bps],
      ["cpumem", t("hs.cpumem"), [[t("hs.cpu"), s.cpu_pct, COLOURS.c], [t("hs.mem"), s.mem_pct, COLOURS.d]], (v) => num(v, 0) + " %"],
      ["rtt", t("hs.rtt"), [["RTT", s.rtt_ms, COLOURS.b], [t("hs.answered") + " (%)", s.up_ratio.map((v) => (v === null ? null : v * 100)), COLOURS.d]], (v) => num(v, 1)],
    ];
    for (const [key, title, lines, fmtV] of specs) {
      const fig = el("figure.chart", { dataset: { chart: key } }, el("figcaption", title));
      chartBox.append(fig);
      const opts = {
        width,
        height: 200,
        tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Asia/Jakarta"),
        fmtDate: (tpl) => uPlot.fmtDate(tpl, lang() === "id" ? ID_NAMES : undefined),
        scales: { x: { time: true, range: [d.from, d.to] } },
        cursor: { drag: { x: true, y: false } },
        legend: { live: true },
        axes: [
          // WIB, 24 hours, the operator's language (uPlot's own ticks would say am/pm)
          {
            stroke: "#333",
            grid: { stroke: "#e4e4e4" },
            space: 70,
            values: (u, splits) => splits.map((ts) => tick(ts, d.to - d.from)),
          },
          { stroke: "#333", grid: { stroke: "#e4e4e4" }, size: 86, values: (u, vals) => vals.map((v) => (v === null ? "" : fmtV(v))) },
        ],
        series: [
          { label: t("hs.at"), value: (u, v) => (v === null ? "–" : wib(v, true)) },
          ...lines.map(([label, , colour]) => ({
            label,
            stroke: colour,
            width: 1.6,
            spanGaps: false,
            value: (u, v) => (v === null ? "–" : fmtV(v)),
          })),
        ],
      };
      charts.push(new uPlot(opts, [d.time, ...lines.map(([, data]) => data)], fig));
    }
  }

  function drawHistory(st) {
    const W = 1000, H = 28;
    const span = st.to - st.from;
    const x = (ts) => (((ts ?? st.to) - st.from) / span) * W;
    const band = svg("svg.band", { viewBox: `0 0 ${W} ${H * 2 + 6}`, preserveAspectRatio: "none", role: "img", "aria-label": t("hs.history") });
    for (const s of st.spans) {
      const r = svg(`rect.st-${s.state}`, { x: x(s.start).toFixed(2), y: "0", width: Math.max(0.5, x(s.end) - x(s.start)).toFixed(2), height: String(H) });
      r.append(svg("title", `${t("health." + s.state)}: ${wib(s.start)} – ${s.end ? wib(s.end) : "…"} (${duration((s.end ?? st.to) - s.start)})`));
      band.append(r);
    }
    for (const p of st.downtime) {
      const r = svg(`rect.c-${p.cause}`, { x: x(p.start).toFixed(2), y: String(H + 6), width: Math.max(0.5, x(p.end) - x(p.start)).toFixed(2), height: String(H) });
      r.append(svg("title", `${t("cause." + p.cause)}: ${wib(p.start)} – ${wib(p.end)} (${duration(p.end - p.start)})${p.incident ? " · " + p.incident : ""}`));
      band.append(r);
    }
    const down = {};
    for (const p of st.downtime) down[p.cause] = (down[p.cause] || 0) + (p.end - p.start);
    fill(
      historyBox,
      el("h3", t("hs.history"), " ", el("span.muted", `${wib(st.from)} – ${wib(st.to)}`)),
      band,
      el(
        "ul.keys",
        ["up", "degraded", "down", "unknown"].map((s) => el("li", el(`span.sw.st-${s}`, { "aria-hidden": "true" }), t("health." + s))),
        Object.entries(down).map(([c, secs]) => el("li", el(`span.sw.c-${c}`, { "aria-hidden": "true" }), `${t("cause." + c)}: ${duration(secs)}`)),
      ),
      el("div.split2",
        el(
          "section",
          el("h3", t("hs.changes")),
          st.changes.length
            ? el(
                "table.small",
                el("thead", el("tr", ["hs.at", "hs.from", "hs.to", "hs.detail", "hs.source"].map((k) => el("th", { scope: "col" }, t(k))))),
                el(
                  "tbody",
                  st.changes.slice(0, 200).map((c) =>
                    el(
                      "tr",
                      el("td", wib(c.at, true)),
                      el("td", c.kind === "reboot" ? "" : c.previous ? t("health." + c.previous) : "–"),
                      el("td", c.kind === "reboot" ? t("hs.reboot") : badge(c.value)),
                      el("td", c.detail || ""),
                      el("td", c.source || ""),
                    ),
                  ),
                ),
              )
            : el("p.muted", t("hs.noChanges")),
        ),
        el(
          "section",
          el("h3", t("hs.incidents")),
          st.incidents.length ? incidentList(st.incidents, { onSelect: (iid) => (location.hash = `#/incidents?id=${encodeURIComponent(iid)}&status=all`) }) : el("p.muted", t("hs.noIncidents")),
        ),
      ),
    );
  }

  renderHead();
  load();
  const onHs = (e) => {
    if (e.detail.all || (e.detail.changed || []).includes(id)) renderHead();
  };
  store.addEventListener("hotspots", onHs);
  const timer = setInterval(load, 60000);
  return () => {
    clearInterval(timer);
    store.removeEventListener("hotspots", onHs);
    for (const c of charts) c.destroy();
  };
}

/** An x-axis tick in WIB: 14.05 within a day's range, "3 Des 14.00" beyond. */
function tick(ts, span) {
  const opts = { timeZone: "Asia/Jakarta", hour: "2-digit", minute: "2-digit", hour12: false };
  if (span > 86400) Object.assign(opts, { day: "numeric", month: "short" });
  return new Intl.DateTimeFormat(lang() === "id" ? "id-ID" : "en-GB", opts).format(new Date(ts * 1000));
}

const ID_NAMES = {
  MMMM: ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November", "Desember"],
  MMM: ["Jan", "Feb", "Mar", "Apr", "Mei", "Jun", "Jul", "Agu", "Sep", "Okt", "Nov", "Des"],
  WWWW: ["Minggu", "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu"],
  WWW: ["Min", "Sen", "Sel", "Rab", "Kam", "Jum", "Sab"],
};

export { causeBadge };
