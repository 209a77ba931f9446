// The city map: kelurahan cells coloured by how many of their hotspots are down, kecamatan borders
// and names (GET /api/v1/public/areas: the outlines are derived from the inventory, there are no
// tiles offline), every hotspot coloured by health, clustered into rings when zoomed out, pan and
// zoom (drag, wheel, buttons, keyboard), and the selected incident highlighted with its root.
//
// One SVG, one group scaled by the view (pan costs nothing); the hotspot layer is redrawn when the
// zoom or a state changes, at most once per frame. Dots are not focusable: the hotspot table is
// the keyboard's way to every hotspot; the map region itself takes the keys for pan and zoom.

import { store } from "./store.js";
import { t } from "./i18n.js";
import { el, svg, fill, perFrame, badge, since, num } from "./util.js";

const STATES = ["down", "degraded", "unknown", "up"]; // worst first
const CLUSTER_UNTIL = 3.2; // zoom factor from which every hotspot is its own dot
const CELL_PX = 38; // cluster cell on screen
const DOT_PX = 4.2;
const MIN_K = 0.8;
const MAX_K = 40;

export class CityMap {
  constructor({ compact = false, wall = false } = {}) {
    this.compact = compact;
    this.wall = wall;
    this.s0 = 1;
    this.view = { k: 1, x: 0, y: 0 }; // zoom factor over the fitted view, translation in px
    this.size = { w: 800, h: 600 };
    this.highlighted = null;
    this.redraw = perFrame(() => this.drawHotspots());
    this.node = this.build();
    this.project();
    this.drawAreas();
    this.resizeObs = new ResizeObserver(() => this.resize());
    this.resizeObs.observe(this.node);
    this.offs = [];
    const onHs = () => {
      this.colourAreas();
      this.redraw();
    };
    store.addEventListener("hotspots", onHs);
    this.offs.push(() => store.removeEventListener("hotspots", onHs));
  }

  destroy() {
    this.resizeObs.disconnect();
    for (const f of this.offs) f();
  }

  build() {
    this.svg = svg("svg.mapsvg", { "aria-hidden": "true", focusable: "false" });
    this.vp = svg("g.vp");
    this.gAreas = svg("g.areas");
    this.gBorders = svg("g.borders");
    this.gKelLabels = svg("g.labels.kel");
    this.gKecLabels = svg("g.labels.kec");
    this.gDots = svg("g.dots");
    this.gHi = svg("g.hi");
    this.vp.append(this.gAreas, this.gBorders, this.gKelLabels, this.gDots, this.gKecLabels, this.gHi);
    this.svg.append(this.vp);
    this.popup = el("div.popup", { hidden: true, role: "dialog", "aria-label": t("map.open") });
    this.summary = el("p.sr-only", { "aria-live": "polite" });
    this.legend = el("div.legend");
    const btn = (label, sym, fn) => el("button.zbtn", { type: "button", "aria-label": t(label), title: t(label), on: { click: fn } }, sym);
    this.controls = this.wall
      ? null
      : el(
          "div.zoom",
          btn("map.zoomIn", "+", () => this.zoomBy(1.6)),
          btn("map.zoomOut", "−", () => this.zoomBy(1 / 1.6)),
          btn("map.reset", "⤢", () => this.reset()),
        );
    const node = el(
      "div.map",
      { role: "region", "aria-label": t("map.label"), tabindex: this.wall ? null : "0", dataset: { total: "0" } },
      this.svg,
      this.controls,
      this.legend,
      this.popup,
      this.summary,
    );
    if (!this.wall) this.interact(node);
    return node;
  }

  // --- projection: an equirectangular view of the city's bbox, north up ----------------------------
  project() {
    const a = store.areas;
    let [s, w, n, e] = a && a.bbox ? a.bbox : [Infinity, Infinity, -Infinity, -Infinity];
    if (!a) {
      for (const h of store.hotspots) {
        s = Math.min(s, h.lat);
        n = Math.max(n, h.lat);
        w = Math.min(w, h.lon);
        e = Math.max(e, h.lon);
      }
    }
    if (!isFinite(s)) [s, w, n, e] = [-7.1, 110.3, -6.9, 110.5];
    const cos = Math.cos((((s + n) / 2) * Math.PI) / 180);
    this.box = { s, w, n, e, cos };
    this.worldW = 1000;
    this.worldH = (1000 * (n - s)) / ((e - w) * cos);
  }

  xy(lat, lon) {
    const b = this.box;
    return [((lon - b.w) / (b.e - b.w)) * this.worldW, ((b.n - lat) / (b.n - b.s)) * this.worldH];
  }

  resize() {
    const r = this.node.getBoundingClientRect();
    if (!r.width || !r.height) return;
    const first = this.size.w === 800 && this.size.h === 600 && !this.sized;
    this.sized = true;
    this.size = { w: r.width, h: r.height };
    this.svg.setAttribute("viewBox", `0 0 ${r.width} ${r.height}`);
    const pad = this.compact ? 8 : 24;
    this.s0 = Math.min((r.width - 2 * pad) / this.worldW, (r.height - 2 * pad) / this.worldH);
    if (first || this.view.k === 1) this.reset(false);
    else this.apply();
  }

  get s() {
    return this.s0 * this.view.k;
  }

  reset(animate = true) {
    const s = this.s0;
    this.view = { k: 1, x: (this.size.w - this.worldW * s) / 2, y: (this.size.h - this.worldH * s) / 2 };
    this.apply(animate);
  }

  apply() {
    this.vp.setAttribute("transform", `translate(${this.view.x.toFixed(2)} ${this.view.y.toFixed(2)}) scale(${this.s.toFixed(5)})`);
    const k = this.view.k;
    if (k !== this.drawnK) {
      this.drawnK = k;
      this.gKelLabels.setAttribute("font-size", (11 / this.s).toFixed(3));
      this.gKecLabels.setAttribute("font-size", ((this.wall ? 17 : 13) / this.s).toFixed(3));
      this.node.classList.toggle("zoomed", k >= 2.2);
      this.redraw();
    }
    this.hidePopup();
  }

  /** Zoom by f around a screen point (default: the centre). */
  zoomBy(f, cx = this.size.w / 2, cy = this.size.h / 2) {
    const k = Math.min(MAX_K, Math.max(MIN_K, this.view.k * f));
    const real = k / this.view.k;
    this.view = { k, x: cx - (cx - this.view.x) * real, y: cy - (cy - this.view.y) * real };
    this.apply();
  }

  /** Fit world rectangle [x0, y0, x1, y1] into the view. */
  fit([x0, y0, x1, y1], maxK = 12) {
    const pad = 60;
    const w = Math.max(x1 - x0, 1), h = Math.max(y1 - y0, 1);
    const s = Math.min((this.size.w - 2 * pad) / w, (this.size.h - 2 * pad) / h);
    const k = Math.min(maxK, Math.max(1, s / this.s0));
    const sc = this.s0 * k;
    this.view = { k, x: this.size.w / 2 - ((x0 + x1) / 2) * sc, y: this.size.h / 2 - ((y0 + y1) / 2) * sc };
    this.apply();
  }

  interact(node) {
    let drag = null;
    // two fingers on a touch screen: pinch to zoom around their midpoint, move both to pan
    const touches = new Map(); // pointerId -> {x, y}
    let pinch = null;
    const local = (p) => {
      const r = this.svg.getBoundingClientRect();
      return { x: p.x - r.left, y: p.y - r.top };
    };
    const pair = () => {
      const [a, b] = [...touches.values()];
      return { mid: local({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 }), dist: Math.max(1, Math.hypot(a.x - b.x, a.y - b.y)) };
    };
    node.addEventListener("pointerdown", (e) => {
      if (e.pointerType === "touch") {
        touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
        if (touches.size === 2) {
          drag = null; // the first finger's pan becomes the pinch
          pinch = pair();
          for (const id of touches.keys()) if (node.hasPointerCapture && !node.hasPointerCapture(id)) node.setPointerCapture(id);
          node.classList.add("panning");
          return;
        }
      }
      if (e.button !== 0 || e.target.closest("button, a, .popup")) return;
      drag = { x: e.clientX, y: e.clientY, vx: this.view.x, vy: this.view.y, moved: false, id: e.pointerId };
    });
    node.addEventListener("pointermove", (e) => {
      if (touches.has(e.pointerId)) touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (pinch && touches.size === 2) {
        const now = pair();
        this.view.x += now.mid.x - pinch.mid.x;
        this.view.y += now.mid.y - pinch.mid.y;
        this.zoomBy(now.dist / pinch.dist, now.mid.x, now.mid.y);
        pinch = now;
        return;
      }
      if (!drag || e.pointerId !== drag.id) return;
      const dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 4) return;
      if (!drag.moved) node.setPointerCapture(e.pointerId);
      drag.moved = true;
      node.classList.add("panning");
      this.view.x = drag.vx + dx;
      this.view.y = drag.vy + dy;
      this.apply();
    });
    const end = (e) => {
      if (touches.delete(e.pointerId) && pinch) {
        if (touches.size < 2) pinch = null;
        node.classList.remove("panning");
        return; // lifting a finger of a pinch is no click
      }
      if (!drag) return;
      const wasDrag = drag.moved;
      drag = null;
      node.classList.remove("panning");
      if (!wasDrag && e.type === "pointerup") this.click(e);
    };
    node.addEventListener("pointerup", end);
    node.addEventListener("pointercancel", end);
    node.addEventListener(
      "wheel",
      (e) => {
        e.preventDefault();
        const r = this.svg.getBoundingClientRect();
        this.zoomBy(Math.exp(-e.deltaY * 0.0018), e.clientX - r.left, e.clientY - r.top);
      },
      { passive: false },
    );
    node.addEventListener("dblclick", (e) => {
      const r = this.svg.getBoundingClientRect();
      this.zoomBy(2, e.clientX - r.left, e.clientY - r.top);
    });
    node.addEventListener("keydown", (e) => {
      if (e.target !== node) return;
      const step = 60;
      const keys = {
        "+": () => this.zoomBy(1.5),
        "=": () => this.zoomBy(1.5),
        "-": () => this.zoomBy(1 / 1.5),
        0: () => this.reset(),
        ArrowLeft: () => ((this.view.x += step), this.apply()),
        ArrowRight: () => ((this.view.x -= step), this.apply()),
        ArrowUp: () => ((this.view.y += step), this.apply()),
        ArrowDown: () => ((this.view.y -= step), this.apply()),
        Escape: () => this.hidePopup(),
      };
      if (keys[e.key]) {
        e.preventDefault();
        keys[e.key]();
      }
    });
  }

  click(e) {
    const target = e.target.closest("[data-id], [data-cluster]");
    if (!target) return this.hidePopup();
    if (target.dataset.cluster) {
      const r = this.svg.getBoundingClientRect();
      this.zoomBy(2.5, e.clientX - r.left, e.clientY - r.top);
      return;
    }
    const h = store.byId.get(target.dataset.id);
    if (h) this.showPopup(h, e);
  }

  showPopup(h, e) {
    const r = this.node.getBoundingClientRect();
    fill(
      this.popup,
      el("button.x", { type: "button", "aria-label": t("common.close"), on: { click: () => this.hidePopup() } }, "×"),
      el("strong", `${h.id} · ${h.name}`),
      el("div", badge(h.state), " ", h.since ? t("inc.since", { t: since(h.since) }) : "", h.reason ? ` — ${h.reason}` : ""),
      el("div.muted", `${h.kelurahan}, ${h.kecamatan_name} · ${h.vendor} ${h.model}`),
      el("div.muted", `${t("table.switch")} ${h.switch} · ${t("table.transformer")} ${h.transformer} · ${t("table.feeder")} ${h.feeder}`),
      el("a", { href: `#/hotspot/${encodeURIComponent(h.id)}` }, t("map.open")),
    );
    this.popup.hidden = false;
    this.popup.style.left = Math.min(e.clientX - r.left + 12, r.width - 300) + "px";
    this.popup.style.top = Math.min(e.clientY - r.top + 12, r.height - 170) + "px";
  }

  hidePopup() {
    if (this.popup) this.popup.hidden = true;
  }

  // --- areas ---------------------------------------------------------------------------------------
  drawAreas() {
    const a = store.areas;
    fill(this.gAreas);
    fill(this.gBorders);
    fill(this.gKelLabels);
    fill(this.gKecLabels);
    this.areaNodes = new Map();
    if (!a) {
      this.node.classList.add("no-areas");
      return;
    }
    const path = (pts) => "M" + pts.map(([la, lo]) => this.xy(la, lo).map((v) => v.toFixed(1)).join(",")).join("L") + "Z";
    for (const k of a.kelurahan) {
      const p = svg("path.kel", { d: path(k.polygon), dataset: { area: k.code } });
      p.append(svg("title", `${k.name} (${k.kecamatan})`));
      this.gAreas.append(p);
      this.areaNodes.set(k.code, p);
      const [x, y] = this.xy(k.label[0], k.label[1]);
      this.gKelLabels.append(svg("text", { x: x.toFixed(1), y: y.toFixed(1) }, k.name));
    }
    const segs = a.borders.map((s) => "M" + s.map(([la, lo]) => this.xy(la, lo).map((v) => v.toFixed(1)).join(",")).join("L")).join("");
    this.gBorders.append(svg("path.kecb", { d: segs }));
    if (a.outline && a.outline.length) this.gBorders.append(svg("path.outline", { d: path(a.outline) }));
    for (const k of a.kecamatan) {
      const [x, y] = this.xy(k.label[0], k.label[1]);
      this.gKecLabels.append(svg("text", { x: x.toFixed(1), y: y.toFixed(1) }, k.name.toUpperCase()));
    }
    this.colourAreas();
  }

  colourAreas() {
    if (!this.areaNodes || !this.areaNodes.size) return;
    const tally = new Map();
    for (const h of store.hotspots) {
      const code = `${h.kecamatan}/${h.kelurahan}`;
      const c = tally.get(code) || { n: 0, down: 0, deg: 0 };
      c.n++;
      if (h.state === "down") c.down++;
      else if (h.state === "degraded") c.deg++;
      tally.set(code, c);
    }
    for (const [code, p] of this.areaNodes) {
      const c = tally.get(code);
      const share = c && c.n ? c.down / c.n : 0;
      const cls = !c ? "a-none" : share >= 0.75 ? "a-3" : share >= 0.25 ? "a-2" : share > 0 ? "a-1" : c.deg ? "a-d" : "a-0";
      if (p.dataset.cls !== cls) {
        if (p.dataset.cls) p.classList.remove(p.dataset.cls);
        p.classList.add(cls);
        p.dataset.cls = cls;
      }
    }
  }

  // --- hotspots ------------------------------------------------------------------------------------
  drawHotspots() {
    const s = this.s;
    const k = this.view.k;
    const hs = store.hotspots;
    const counts = { up: 0, degraded: 0, down: 0, unknown: 0 };
    const frag = document.createDocumentFragment();
    const r = (this.wall ? DOT_PX * 1.3 : DOT_PX) / s;
    const dot = (h, x, y) => svg(`circle.hs.st-${h.state}`, { cx: x.toFixed(1), cy: y.toFixed(1), r: r.toFixed(3), dataset: { id: h.id } });
    let shown = 0;
    if (k >= CLUSTER_UNTIL) {
      for (const h of hs) {
        const [x, y] = this.xy(h.lat, h.lon);
        frag.append(dot(h, x, y));
        counts[h.state]++;
        shown++;
      }
    } else {
      const cell = CELL_PX / s;
      const cells = new Map();
      for (const h of hs) {
        const [x, y] = this.xy(h.lat, h.lon);
        const key = Math.floor(x / cell) + ":" + Math.floor(y / cell);
        let c = cells.get(key);
        if (!c) cells.set(key, (c = { m: [], x: 0, y: 0 }));
        c.m.push([h, x, y]);
        c.x += x;
        c.y += y;
        counts[h.state]++;
      }
      for (const c of this.separate([...cells.values()], s)) {
        shown += c.m.length;
        if (c.m.length === 1) {
          const [h, x, y] = c.m[0];
          frag.append(dot(h, x, y));
        } else frag.append(this.cluster(c, s));
      }
    }
    fill(this.gDots, frag);
    this.node.dataset.total = String(shown);
    this.drawLegend(counts);
    this.drawHighlight();
  }

  /** A cluster's ring radius on screen (px) for n hotspots; a single hotspot is a dot. */
  ringPx(n) {
    return n === 1 ? (this.wall ? DOT_PX * 1.3 : DOT_PX) : (7 + Math.sqrt(n) * 1.6) * (this.wall ? 1.25 : 1);
  }

  /**
   * Grid cells whose rings would overlap on screen (a big cluster is wider than its cell) are merged,
   * biggest first, until none does: every ring is readable and every hotspot still counted once.
   */
  separate(groups, s) {
    const outer = (n) => this.ringPx(n) * (n === 1 ? 1 : 1.21); // the ring's stroke reaches 0.21 R beyond it
    for (let pass = 0; pass < 6; pass++) {
      groups.sort((a, b) => b.m.length - a.m.length);
      const out = [];
      let merged = false;
      for (const g of groups) {
        const n = g.m.length, gx = g.x / n, gy = g.y / n, gr = outer(n);
        const host = out.find((o) => {
          const on = o.m.length;
          return Math.hypot((o.x / on - gx) * s, (o.y / on - gy) * s) < outer(on) + gr + 2;
        });
        if (host) {
          for (const m of g.m) host.m.push(m);
          host.x += g.x;
          host.y += g.y;
          merged = true;
        } else out.push(g);
      }
      groups = out;
      if (!merged) break;
    }
    return groups;
  }

  cluster(c, s) {
    const n = c.m.length;
    const by = { down: 0, degraded: 0, unknown: 0, up: 0 };
    for (const [h] of c.m) by[h.state]++;
    const R = this.ringPx(n);
    const w = R * 0.42;
    const x = c.x / n, y = c.y / n;
    const worst = STATES.find((st) => by[st] > 0);
    const g = svg(`g.cluster.w-${worst}`, { transform: `translate(${x.toFixed(1)} ${y.toFixed(1)}) scale(${(1 / s).toFixed(5)})`, dataset: { cluster: "1", count: String(n) } });
    let acc = 0;
    for (const st of STATES) {
      if (!by[st]) continue;
      const frac = (by[st] / n) * 100;
      g.append(
        svg(`circle.seg.st-${st}`, {
          r: R.toFixed(2),
          "stroke-width": w.toFixed(2),
          pathLength: "100",
          "stroke-dasharray": `${frac.toFixed(3)} ${100 - frac + 0.001}`,
          "stroke-dashoffset": (-acc + 25).toFixed(3),
        }),
      );
      acc += frac;
    }
    g.append(svg("circle.core", { r: (R - w / 2).toFixed(2) }));
    g.append(svg("text", { y: "0.35em", "font-size": n >= 100 ? "9" : "10" }, String(n)));
    const detail = STATES.filter((st) => by[st]).map((st) => `${t("health." + st)} ${by[st]}`).join(", ");
    g.append(svg("title", t("map.cluster", { n, detail })));
    return g;
  }

  drawLegend(counts) {
    const total = counts.up + counts.degraded + counts.down + counts.unknown;
    fill(
      this.legend,
      el("strong", t("map.total", { n: num(total) })),
      el(
        "ul",
        ["up", "degraded", "down", "unknown"].map((st) =>
          el("li", { dataset: { state: st } }, el(`span.sw.st-${st}`, { "aria-hidden": "true" }), `${t("health." + st)} `, el("b", num(counts[st]))),
        ),
      ),
      store.areas ? null : el("div.muted", t("map.noAreas")),
    );
    this.summary.textContent = `${t("map.total", { n: num(total) })}: ${["up", "degraded", "down", "unknown"].map((st) => `${t("health." + st)} ${counts[st]}`).join(", ")}`;
  }

  // --- the selected incident ----------------------------------------------------------------------
  highlight(inc, { fit = true } = {}) {
    this.highlighted = inc;
    this.node.classList.toggle("focus", !!inc);
    this.drawHighlight();
    if (inc && fit && this.hiBox) this.fit(this.hiBox, 8);
  }

  drawHighlight() {
    fill(this.gHi);
    this.hiBox = null;
    const inc = this.highlighted;
    if (!inc) return;
    const s = this.s;
    const ids = (inc.affected || []).filter((a) => a.startsWith("hotspot:")).map((a) => a.slice(8));
    if (inc.root.startsWith("hotspot:")) ids.push(inc.root.slice(8));
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity, sx = 0, sy = 0, n = 0;
    const frag = document.createDocumentFragment();
    for (const id of new Set(ids)) {
      const h = store.byId.get(id);
      if (!h) continue;
      const [x, y] = this.xy(h.lat, h.lon);
      frag.append(svg(`circle.hs.hi.st-${h.state}`, { cx: x.toFixed(1), cy: y.toFixed(1), r: (5.5 / s).toFixed(3), dataset: { id: h.id } }));
      x0 = Math.min(x0, x);
      y0 = Math.min(y0, y);
      x1 = Math.max(x1, x);
      y1 = Math.max(y1, y);
      sx += x;
      sy += y;
      n++;
    }
    this.gHi.append(frag);
    if (!n) return;
    this.hiBox = [x0, y0, x1, y1];
    // the root: the hotspot itself, or a marker where its hotspots are (grid and switches have no coordinates)
    const rootH = inc.root.startsWith("hotspot:") ? store.byId.get(inc.root.slice(8)) : null;
    const [rx, ry] = rootH ? this.xy(rootH.lat, rootH.lon) : [sx / n, sy / n];
    const g = svg("g.root", { transform: `translate(${rx.toFixed(1)} ${ry.toFixed(1)}) scale(${(1 / s).toFixed(5)})` });
    g.append(svg("path", { d: "M0,-11 L11,0 L0,11 L-11,0 Z" }));
    g.append(svg("text", { x: "15", y: "5" }, inc.root));
    g.append(svg("title", t("map.root", { root: inc.root })));
    this.gHi.append(g);
  }

  /** Centre on one hotspot, zoomed in, with its card. */
  focusHotspot(id) {
    const h = store.byId.get(id);
    if (!h) return;
    const [x, y] = this.xy(h.lat, h.lon);
    this.fit([x - 15, y - 15, x + 15, y + 15], 10);
    const r = this.node.getBoundingClientRect();
    this.showPopup(h, { clientX: r.left + this.size.w / 2, clientY: r.top + this.size.h / 2 });
  }
}
