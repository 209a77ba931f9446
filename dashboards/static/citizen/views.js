// What the page shows, built as DOM nodes (never HTML strings: names and texts come from the
// network): the "Kenapa mati?" answer, the lists under the map, and the kelurahan search box.

import { cityLine, hm, num, t, when } from "./i18n.js";

/** h("p", {class: "x"}, "text", child…) */
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v == null) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c != null && c !== false) e.append(c);
  return e;
}

/** Names as people type them: no case, no accents, no punctuation. */
export function norm(s) {
  return s
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, " ")
    .trim();
}

export function renderCityLine(doc) {
  const { head, detail } = cityLine(doc);
  const headEl = document.getElementById("city-head");
  if (headEl) {
    // the server's elements stay (their paint is the page's measured first answer): new words only
    headEl.textContent = head;
    document.getElementById("city-detail").textContent = detail;
  } else {
    document.getElementById("city-status").replaceChildren(
      h("strong", { id: "city-head" }, head),
      " ",
      h("span", { id: "city-detail" }, detail),
    );
  }
  document.getElementById("updated").textContent = t("updated", { t: hm(doc.updated_at) });
}

function powerCut(cause) {
  return cause === "power_grid" || cause === "planned_maintenance";
}

/** The answer to "Kenapa mati?" for one kelurahan (a /public/kelurahan or /public/location answer). */
export function renderAnswer(section, a) {
  const causes = [...new Set(a.outages.map((o) => o.cause))];
  const parts = [
    h(
      "h2",
      { id: "answer-h" },
      h("span", { class: "why" }, t("why")),
      " ",
      `${a.kelurahan}, ${t("kec")} ${a.kecamatan}`,
    ),
    h("p", { class: `verdict s-${a.status}` }, a.status_text),
  ];
  if (causes.length) {
    parts.push(
      h("p", { class: "what-out" }, t("whatOut"), " ", h("strong", {}, causes.map((c) => t("out_" + c)).join("; "))),
    );
  }
  for (const o of a.outages) {
    parts.push(
      h(
        "article",
        { class: `outage c-${o.cause}` },
        h("h3", {}, `${o.cause_text} ${t("since")} ${when(o.since)}`),
        h("p", {}, o.explanation),
        h("p", { class: `handling ${o.handling}` }, o.handling_text),
        h("p", { class: "etr" }, o.restore ? o.restore.text : t("noEtr")),
        h("p", { class: "help" }, t("hotspotsAffected", { n: num(o.affected_hotspots) })),
      ),
    );
  }
  if (!a.outages.length) {
    parts.push(h("p", { class: "all-well" }, t("allWell")));
    if (a.hotspots.down) parts.push(h("p", {}, t("someDown", { n: num(a.hotspots.down) })));
  }
  parts.push(
    h(
      "p",
      { class: "hotspots" },
      a.hotspots.total
        ? t("hotspotsHere", { up: num(a.hotspots.up), down: num(a.hotspots.down), total: num(a.hotspots.total) })
        : t("hotspotsNone"),
    ),
  );
  if (causes.some(powerCut)) parts.push(h("p", { class: "tip" }, t("tipPower")));
  else if (causes.includes("network_uplink")) parts.push(h("p", { class: "tip" }, t("tipWifi")));
  if (a.maintenance.length) {
    parts.push(
      h("h3", {}, t("plannedHere")),
      h(
        "ul",
        { class: "plain" },
        a.maintenance.map((m) =>
          h(
            "li",
            {},
            `${when(m.start)} – ${hm(m.end)} WIB`,
            m.active ? ` (${t("plannedNow")})` : "",
            m.reason ? ` · ${m.reason}` : "",
          ),
        ),
      ),
    );
  }
  parts.push(h("p", { class: "help" }, t("updated", { t: hm(a.updated_at) })));
  section.replaceChildren(...parts);
  section.className = `answer s-${a.status}`;
  section.hidden = false;
}

/** Kelurahan with an outage or maintenance now, as buttons that open their answer. */
export function renderAffected(ul, rows, names, onPick) {
  const hit = rows.filter((r) => r.status !== "normal");
  hit.sort((a, b) => (a.status === b.status ? a.code.localeCompare(b.code) : a.status === "outage" ? -1 : 1));
  if (!hit.length) {
    ul.replaceChildren(h("li", { class: "none" }, t("noneAffected")));
    return;
  }
  ul.replaceChildren(
    ...hit.map((r) => {
      const n = names.get(r.code);
      const label = n ? `${n.name} (${t("kec")} ${n.kecamatanName})` : r.code;
      const extra = r.status === "maintenance" ? t("planned") : r.handled ? t("handled") : "";
      return h(
        "li",
        {},
        h(
          "button",
          { type: "button", class: `chip s-${r.status}`, onclick: () => onPick(r.code, { focus: true }) },
          h("span", { class: "sr-only" }, t("st_" + r.status) + ": "),
          label,
          extra ? h("small", {}, ` · ${extra}`) : null,
        ),
      );
    }),
  );
}

export function renderPlanned(ul, items, names) {
  if (!items.length) {
    ul.replaceChildren(h("li", { class: "none" }, t("nonePlanned")));
    return;
  }
  ul.replaceChildren(
    ...items.map((m) => {
      const where = m.kelurahan.map((c) => (names.get(c) || { name: c.split("/")[1] }).name).join(", ");
      return h(
        "li",
        {},
        h("strong", {}, `${when(m.start)} – ${hm(m.end)} WIB`),
        m.active ? ` (${t("plannedNow")})` : "",
        m.reason ? ` · ${m.reason}` : "",
        where ? h("br") : null,
        where,
      );
    }),
  );
}

export function renderServices(ul, services) {
  ul.replaceChildren(
    ...services.map((s) =>
      h(
        "li",
        { class: `svc s-${s.status}` },
        h("span", { class: "svc-dot", "aria-hidden": "true" }),
        ` ${s.name}: `,
        t("svc_" + (["up", "down", "degraded"].includes(s.status) ? s.status : "unknown")),
      ),
    ),
  );
}

/**
 * A combobox over the kelurahan names (WAI-ARIA 1.2 combobox with a listbox popup): arrows move,
 * Enter picks, Escape closes. ``entries``: [{code, name, kecamatanName, key}].
 */
export function setupSearch(input, list, getEntries, onPick) {
  let options = [];
  let active = -1;
  const close = () => {
    list.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    active = -1;
  };
  const mark = (i) => {
    active = i;
    for (const [j, li] of [...list.children].entries()) li.setAttribute("aria-selected", String(j === i));
    if (i >= 0) {
      input.setAttribute("aria-activedescendant", `q-opt-${i}`);
      list.children[i].scrollIntoView({ block: "nearest" });
    } else input.removeAttribute("aria-activedescendant");
  };
  const matches = (q) => {
    const k = norm(q);
    if (!k) return [];
    const starts = [];
    const words = [];
    const inside = [];
    for (const e of getEntries()) {
      if (e.key.startsWith(k)) starts.push(e);
      else if (e.key.includes(" " + k)) words.push(e);
      else if (e.key.includes(k)) inside.push(e);
    }
    return [...starts, ...words, ...inside].slice(0, 8);
  };
  const open = () => {
    options = matches(input.value);
    if (!options.length) return close();
    list.replaceChildren(
      ...options.map((e, i) =>
        h(
          "li",
          { id: `q-opt-${i}`, role: "option", "aria-selected": "false" },
          e.name,
          h("small", {}, ` · ${t("kec")} ${e.kecamatanName}`),
        ),
      ),
    );
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
    active = -1;
  };
  const pick = (e) => {
    input.value = e.name;
    close();
    onPick(e.code, { focus: true }, e);
  };
  input.addEventListener("input", open);
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown") {
      if (list.hidden) open();
      if (options.length) mark((active + 1) % options.length);
      ev.preventDefault();
    } else if (ev.key === "ArrowUp") {
      if (options.length) mark((active - 1 + options.length) % options.length);
      ev.preventDefault();
    } else if (ev.key === "Enter" && !list.hidden && active >= 0) {
      ev.preventDefault();
      pick(options[active]);
    } else if (ev.key === "Escape") {
      close();
    }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
  // mousedown, not click: picking must happen before the input's blur closes the list
  list.addEventListener("mousedown", (ev) => {
    const li = ev.target.closest("li[role=option]");
    if (!li) return;
    ev.preventDefault();
    pick(options[Number(li.id.slice(6))]);
  });
  return { close, matches };
}
