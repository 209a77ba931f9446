// Incidents: the list (open, or past ones too), and one incident's whole story — cause, root,
// affected hotspots, the explanation in the operator's language, the restore estimate, the evidence,
// the timeline from the incident log, operators' notes — with the operator's actions: acknowledge
// (citizens then read "sedang ditangani petugas"), add a note, silence its alerts.

import { store } from "./store.js";
import { api, ApiError } from "./api.js";
import { t, lang } from "./i18n.js";
import { el, fill, refill, wib, since, duration, num, badge, causeBadge } from "./util.js";

export function incidentCard(inc, { selected = false, onSelect } = {}) {
  const open = inc.status === "open";
  return el(
    `li.inc.sev-${inc.severity}`,
    { class: selected ? "selected" : "", dataset: { incident: inc.id } },
    el(
      "button.inc-btn",
      { type: "button", "aria-pressed": selected ? "true" : "false", on: { click: () => onSelect && onSelect(inc.id) } },
      el("span.inc-head", el(`span.sev.sev-${inc.severity}`, t(`severity.${inc.severity}`)), causeBadge(inc.cause), el("span.root", inc.root)),
      el("span.inc-meta", t("inc.affected", { n: num(inc.affected_hotspots) }), " · ", open ? t("inc.for", { d: since(inc.opened_at) }) : `${wib(inc.opened_at)} – ${wib(inc.closed_at)}`),
      el("span.inc-text", inc.explanation[lang()] || inc.explanation.id),
      el("span.inc-flags", inc.acknowledged ? el("span.ack", "✔ " + t("inc.acked")) : open ? el("span.noack", t("inc.notAcked")) : el("span.closed", t("inc.closed"))),
    ),
  );
}

export function incidentList(items, { selectedId, onSelect } = {}) {
  if (!items.length) return el("p.empty", t("inc.none"));
  return el("ul.incs", items.map((i) => incidentCard(i, { selected: i.id === selectedId, onSelect })));
}

/** The detail of one incident (IncidentDetail) with the operator's forms. */
export function incidentDetail(d, { onChanged, showMap, message } = {}) {
  const open = d.status === "open";
  const msg = el("p.msg", { role: "status", "aria-live": "polite", class: message ? "ok" : "" }, message || "");
  const fail = (e) => {
    msg.className = "msg err";
    msg.textContent = e instanceof ApiError && e.status === 403 ? t("key.weak") : e instanceof ApiError && e.status === 401 ? t("key.refused") : String(e.message || e);
  };
  const ok = (text) => {
    msg.className = "msg ok";
    msg.textContent = text;
  };
  const act = async (fn, text) => {
    try {
      await fn();
      ok(text);
      if (onChanged) await onChanged(text);
    } catch (e) {
      fail(e);
    }
  };

  const ackComment = el("input", { type: "text", id: "ack-comment", maxlength: "2000", autocomplete: "off" });
  const ackForm = el(
    "form.act",
    {
      on: {
        submit: (e) => {
          e.preventDefault();
          act(() => api(`incidents/${encodeURIComponent(d.id)}/ack`, { method: "POST", body: { comment: ackComment.value } }), t("inc.ackDone"));
        },
      },
    },
    el("label", { for: "ack-comment" }, t("inc.ackComment")),
    ackComment,
    el("button.primary", { type: "submit", dataset: { action: "ack" } }, t("inc.ack")),
  );
  const noteText = el("textarea", { id: "note-text", rows: "2", maxlength: "2000", required: true });
  const noteForm = el(
    "form.act",
    {
      on: {
        submit: (e) => {
          e.preventDefault();
          if (!noteText.value.trim()) return;
          act(() => api(`incidents/${encodeURIComponent(d.id)}/notes`, { method: "POST", body: { text: noteText.value.trim() } }), t("inc.noteDone"));
        },
      },
    },
    el("label", { for: "note-text" }, t("inc.noteText")),
    noteText,
    el("button", { type: "submit", dataset: { action: "note" } }, t("inc.note")),
  );
  const silHours = el("select", { id: "sil-hours" }, [1, 4, 12, 24].map((h) => el("option", { value: String(h) }, t("inc.hours", { n: h }))));
  const silMatch = el("select", { id: "sil-match" }, el("option", { value: "incident_id" }, t("inc.byIncident")), el("option", { value: "root" }, t("inc.byRoot", { root: d.root })));
  const silComment = el("input", { type: "text", id: "sil-comment", maxlength: "2000", required: true, autocomplete: "off" });
  const silForm = el(
    "form.act.sil",
    {
      on: {
        submit: (e) => {
          e.preventDefault();
          if (!silComment.value.trim()) return;
          const ends = Date.now() / 1000 + Number(silHours.value) * 3600;
          const value = silMatch.value === "root" ? d.root : d.id;
          act(
            () => api("silences", { method: "POST", body: { matchers: [{ name: silMatch.value, value }], ends_at: ends, comment: silComment.value.trim() } }),
            t("inc.silenceDone", { t: wib(ends) }),
          );
        },
      },
    },
    el("label", { for: "sil-match" }, t("inc.silenceMatch")),
    silMatch,
    el("label", { for: "sil-hours" }, t("inc.silenceFor")),
    silHours,
    el("label", { for: "sil-comment" }, t("inc.silenceComment")),
    silComment,
    el("button", { type: "submit", dataset: { action: "silence" } }, t("inc.silence")),
  );

  const hotspots = d.affected.filter((a) => a.startsWith("hotspot:")).map((a) => a.slice(8));
  return el(
    "article.incdetail",
    { "aria-labelledby": "inc-title", dataset: { incident: d.id } },
    el("h2#inc-title", causeBadge(d.cause), " ", d.root),
    el(
      "div.inc-badges",
      el(`span.sev.sev-${d.severity}`, t(`severity.${d.severity}`)),
      d.acknowledged ? el("span.ack", "✔ " + t("inc.acked")) : open ? el("span.noack", t("inc.notAcked")) : null,
      el("span", open ? t("inc.for", { d: since(d.opened_at) }) : t("inc.closed")),
      d.merged_into ? el("span", t("inc.merged", { id: d.merged_into })) : null,
      showMap ? el("button.link", { type: "button", on: { click: () => showMap(d) } }, t("inc.showMap")) : null,
    ),
    el("p.explain", d.explanation[lang()] || d.explanation.id),
    el(
      "dl.facts",
      el("dt", t("inc.cause")),
      el("dd", t(`cause.${d.cause}`)),
      el("dt", t("inc.root")),
      el("dd", d.root, d.inferred ? ` (${t("inc.inferred")})` : ""),
      el("dt", t("inc.confidence")),
      el("dd", num(d.confidence * 100, 0) + " %"),
      el("dt", t("inc.hotspots")),
      el("dd", num(d.affected_hotspots)),
      el("dt", t("inc.areas")),
      el("dd", d.areas.map((a) => a.split("/")[1] || a).join(", ") || "–"),
      el("dt", t("inc.opened")),
      el("dd", wib(d.opened_at, true)),
      d.closed_at ? [el("dt", t("inc.closedAt")), el("dd", wib(d.closed_at, true), ` (${duration(d.closed_at - d.opened_at)})`)] : null,
      open ? [el("dt", t("inc.etr")), el("dd.etr", etr(d.restore_estimate, d))] : null,
    ),
    open ? el("section.actions", { "aria-label": t("inc.ack") }, ackForm, noteForm, silForm, msg) : msg,
    el("h3", t("inc.timeline")),
    el(
      "ol.timeline",
      d.log.map((r) =>
        el("li", el("time", wib(r.at, true)), " ", el("b", t(`change.${r.change}`)), " ", el("span.muted", logDetail(r.detail))),
      ),
      d.notes.map((n) =>
        el("li.note", el("time", wib(n.at, true)), " ", el("b", n.kind === "ack" ? "✔ " + t("inc.acked") : "✎"), " ", el("span", `${n.author}: ${n.text}`)),
      ),
    ),
    el("h3", t("inc.evidence")),
    el("ul.evidence", d.evidence.map((e) => el("li", e))),
    el("h3", t("inc.hotspots"), ` (${hotspots.length})`),
    el(
      "p.hslist",
      hotspots.slice(0, 400).map((id) => [el("a", { href: `#/hotspot/${encodeURIComponent(id)}` }, id), " "]),
      hotspots.length > 400 ? `… +${hotspots.length - 400}` : null,
    ),
  );
}

function etr(r, d) {
  if (!r) return t("inc.etrNone");
  if (r.kind === "planned") return t("inc.etrPlanned", { t: wib(r.at) });
  const kind = (d.root || "").split(":")[0];
  const words = { total: r.history ?? r.n, cause: t(`cause.${d.cause}`).toLowerCase(), kind: t(`elkind.${kind}`) };
  if (!r.at) return [t("inc.etrNone"), el("div.muted.etr-basis", t("inc.etrBasisNone", words))];
  const min = (s) => Math.round(s / 60);
  return [
    t("inc.etrEstimate", { from: wib(r.from), to: wib(r.to), at: wib(r.at), n: r.n }),
    r.enough ? "" : " ⚠",
    el("div.muted.etr-basis", t("inc.etrBasis", { ...words, n: r.n, med: min(r.median_s), q1: min(r.q1_s), q3: min(r.q3_s) })),
    r.enough ? null : el("div.muted", t("inc.etrThin")),
  ];
}

function logDetail(d) {
  if (d === null || d === undefined) return "";
  if (typeof d === "string") return d;
  const parts = [];
  for (const [k, v] of Object.entries(d)) {
    if (v === null || v === undefined || (Array.isArray(v) && !v.length)) continue;
    const val = Array.isArray(v) ? (v.length > 6 ? `${v.slice(0, 6).join(", ")} … (${v.length})` : v.join(", ")) : typeof v === "object" ? JSON.stringify(v) : String(v);
    parts.push(`${k}: ${val}`);
  }
  return parts.join(" · ");
}

/** The active silences with an "expire" button each. */
export async function silencesBox() {
  const box = el("section.silences", el("h3", t("inc.silences")));
  const list = el("ul");
  box.append(list);
  const load = async () => {
    try {
      const rows = (await api("silences")).filter((s) => s.status !== "expired");
      fill(
        list,
        rows.length
          ? rows.map((s) =>
              el(
                "li",
                el("span", s.matchers.map((m) => `${m.name}${m.is_equal ? "" : "!"}${m.is_regex ? "=~" : "="}${m.value}`).join(", ")),
                " ",
                el("span.muted", `${wib(s.starts_at)} – ${wib(s.ends_at)} · ${s.created_by}: ${s.comment}`),
                " ",
                el(
                  "button.small",
                  {
                    type: "button",
                    on: {
                      click: async (e) => {
                        try {
                          await api(`silences/${encodeURIComponent(s.id)}`, { method: "DELETE" });
                          load();
                        } catch (err) {
                          e.target.textContent = err.status === 403 ? t("key.weak") : err.message;
                        }
                      },
                    },
                  },
                  t("inc.expire"),
                ),
              ),
            )
          : el("li.muted", t("inc.noSilences")),
      );
    } catch (e) {
      fill(list, el("li.err", t("common.error", { err: e.message })));
    }
  };
  await load();
  box.reload = load;
  return box;
}

/** The incidents screen: status filter, list, detail. */
export function incidentsView(root, params) {
  let status = params.get("status") || "open";
  let items = [];
  const listBox = el("div.listbox");
  const detailBox = el("div.detailbox", el("p.muted", t("inc.select")));
  const statusSel = el(
    "select#inc-status",
    { on: { change: () => ((status = statusSel.value), load()) } },
    ["open", "closed", "all"].map((s) => el("option", { value: s }, s === "open" ? t("inc.open") : s === "closed" ? t("inc.closed") : t("inc.all"))),
  );
  statusSel.value = status;
  let selectedId = params.get("id");
  let shown = "";
  const sil = el("div");
  silencesBox().then((b) => fill(sil, b));

  const select = async (id, message = null) => {
    const sameIncident = id === selectedId && shown !== "";
    if (id !== selectedId) shown = "";
    selectedId = id;
    renderList();
    try {
      const d = await api(`incidents/${encodeURIComponent(id)}`);
      // re-render only when something changed: an operator may be typing in its forms
      const sig = JSON.stringify([d.updated_at, d.status, d.acknowledged, d.notes.length, d.log.length, d.affected_hotspots, lang()]);
      if (sig === shown && !message) return;
      shown = sig;
      (message || !sameIncident ? fill : refill)(
        detailBox,
        incidentDetail(d, {
          message,
          onChanged: async (text) => {
            await store.refreshIncidents();
            await load();
            await select(id, text);
            const b = await silencesBox();
            fill(sil, b);
          },
          showMap: (x) => (location.hash = `#/map?incident=${encodeURIComponent(x.id)}`),
        }),
      );
    } catch (e) {
      fill(detailBox, el("p.err", t("common.error", { err: e.message })));
    }
  };
  const renderList = () => fill(listBox, incidentList(items, { selectedId, onSelect: select }));
  const load = async () => {
    try {
      items = status === "open" ? store.incidents : (await api(`incidents?status=${status}&limit=200`)).items;
      renderList();
    } catch (e) {
      fill(listBox, el("p.err", t("common.error", { err: e.message })));
    }
  };
  fill(
    root,
    el(
      "div.split",
      el("section.col", el("div.toolbar", el("h2", t("nav.incidents")), el("label", { for: "inc-status" }, t("inc.status")), statusSel), listBox, sil),
      el("section.col.wide", { "aria-live": "polite" }, detailBox),
    ),
  );
  load();
  if (selectedId) select(selectedId);
  const onInc = () => {
    if (status !== "closed") load();
    if (selectedId) select(selectedId);
  };
  store.addEventListener("incidents", onInc);
  return () => store.removeEventListener("incidents", onInc);
}

export { badge };
