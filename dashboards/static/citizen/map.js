// The city's kelurahan drawn as SVG from /api/v1/public/areas (no map tiles: the outlines are
// derived from where the city's devices are), coloured by status, with kecamatan borders and names.
// Pan by dragging when zoomed in, zoom with the buttons or a double tap; a tap on a kelurahan picks it.

const SVG = "http://www.w3.org/2000/svg";
const W = 1000; // width of the drawing in SVG units; the height follows the city's shape
const STATUSES = ["normal", "outage", "maintenance", "unknown"];

function el(name, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (parent) parent.appendChild(e);
  return e;
}

/** An equirectangular projection of the city's box onto W units (good enough across 30 km). */
function projection(bbox) {
  const [minLat, minLon, maxLat, maxLon] = bbox;
  const k = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const s = W / ((maxLon - minLon) * k);
  const h = (maxLat - minLat) * s;
  const xy = ([lat, lon]) => [(lon - minLon) * k * s, (maxLat - lat) * s];
  return { xy, h };
}

const pathOf = (pts, xy) =>
  "M" +
  pts
    .map((p) => {
      const [x, y] = xy(p);
      return x.toFixed(1) + " " + y.toFixed(1);
    })
    .join("L") +
  "Z";

export function createMap(container, areas, onPick) {
  const { xy, h } = projection(areas.bbox);
  const H = Math.ceil(h);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", class: "map-svg", focusable: "false" });
  const cells = el("g", { class: "cells" }, svg);
  el("path", { class: "borders", d: areas.borders.map((seg) => pathOf(seg, xy).slice(0, -1)).join("") }, svg);
  const labels = el("g", { class: "labels", "aria-hidden": "true" }, svg);
  const selLabel = el("text", { class: "sel-label", "text-anchor": "middle" }, svg);

  const byCode = new Map();
  for (const k of areas.kelurahan) {
    const p = el("path", { class: "k s-unknown", d: pathOf(k.polygon, xy), "data-code": k.code }, cells);
    el("title", {}, p).textContent = k.name;
    byCode.set(k.code, { path: p, label: xy(k.label), name: k.name });
  }
  for (const kc of areas.kecamatan) {
    const [x, y] = xy(kc.label);
    const tx = el("text", { x: x.toFixed(1), y: y.toFixed(1), "text-anchor": "middle", class: "kec-label" }, labels);
    tx.textContent = kc.name;
  }
  container.replaceChildren(svg);

  // --- view box: zoom and pan ---------------------------------------------------------------
  let vb = { x: 0, y: 0, w: W, h: H };
  const apply = () => {
    svg.setAttribute("viewBox", `${vb.x.toFixed(1)} ${vb.y.toFixed(1)} ${vb.w.toFixed(1)} ${vb.h.toFixed(1)}`);
    // text keeps its size on screen whatever the zoom: font size in SVG units per CSS pixel
    const px = vb.w / Math.max(1, svg.clientWidth || container.clientWidth || 600);
    labels.setAttribute("font-size", (12 * px).toFixed(2));
    selLabel.setAttribute("font-size", (14 * px).toFixed(2));
    svg.classList.toggle("zoomed", vb.w < W - 0.5);
  };
  const clamp = () => {
    vb.w = Math.min(W, Math.max(W / 12, vb.w));
    vb.h = (vb.w * H) / W;
    vb.x = Math.min(W - vb.w, Math.max(0, vb.x));
    vb.y = Math.min(H - vb.h, Math.max(0, vb.y));
  };
  const zoomAt = (factor, cx = vb.x + vb.w / 2, cy = vb.y + vb.h / 2) => {
    const nw = vb.w / factor;
    vb = { x: cx - (cx - vb.x) / factor, y: cy - (cy - vb.y) / factor, w: nw, h: (nw * H) / W };
    clamp();
    apply();
  };
  const centerOn = ([x, y], w) => {
    vb = { x: x - w / 2, y: y - (w * H) / W / 2, w, h: (w * H) / W };
    clamp();
    apply();
  };
  const toSvg = (ev) => {
    const r = svg.getBoundingClientRect();
    return [vb.x + ((ev.clientX - r.left) / r.width) * vb.w, vb.y + ((ev.clientY - r.top) / r.height) * vb.h];
  };

  let drag = null;
  let dragged = false; // the click that ends a drag is not a pick
  svg.addEventListener("pointerdown", (ev) => {
    dragged = false;
    if (vb.w >= W - 0.5) return; // the whole city: nothing to pan, let the page scroll
    drag = { id: ev.pointerId, x: ev.clientX, y: ev.clientY, vb: { ...vb }, moved: false };
  });
  svg.addEventListener("pointermove", (ev) => {
    if (!drag || ev.pointerId !== drag.id) return;
    const r = svg.getBoundingClientRect();
    const dx = ((ev.clientX - drag.x) / r.width) * drag.vb.w;
    const dy = ((ev.clientY - drag.y) / r.height) * drag.vb.h;
    if (!drag.moved && Math.hypot(ev.clientX - drag.x, ev.clientY - drag.y) < 6) return;
    if (!drag.moved) svg.setPointerCapture(ev.pointerId);
    drag.moved = true;
    vb = { ...drag.vb, x: drag.vb.x - dx, y: drag.vb.y - dy };
    clamp();
    apply();
  });
  const endDrag = (ev) => {
    if (drag && ev.pointerId === drag.id) {
      dragged = drag.moved;
      drag = null;
    }
  };
  svg.addEventListener("pointerup", endDrag);
  svg.addEventListener("pointercancel", endDrag);
  svg.addEventListener("dblclick", (ev) => {
    ev.preventDefault();
    const [x, y] = toSvg(ev);
    zoomAt(2, x, y);
  });
  svg.addEventListener("click", (ev) => {
    if (dragged) return;
    const p = ev.target.closest && ev.target.closest("path.k");
    if (p) onPick(p.dataset.code, { fromMap: true });
  });
  new ResizeObserver(apply).observe(container);
  apply();

  let selected = null;
  return {
    has: (code) => byCode.has(code),
    /** rows of /public/status: {code, status, total, ...} */
    setStatus(rows) {
      for (const r of rows) {
        const c = byCode.get(r.code);
        if (!c) continue;
        const s = r.total && r.up + r.down === 0 && r.status === "normal" ? "unknown" : r.status;
        for (const x of STATUSES) c.path.classList.toggle("s-" + x, x === s);
        c.path.classList.toggle("handled", Boolean(r.handled));
      }
    },
    select(code, { focus = false } = {}) {
      if (selected) selected.path.classList.remove("sel");
      selected = byCode.get(code) || null;
      selLabel.textContent = "";
      if (!selected) return;
      selected.path.classList.add("sel");
      cells.appendChild(selected.path); // drawn last: its outline on top of its neighbours'
      const [x, y] = selected.label;
      selLabel.setAttribute("x", x.toFixed(1));
      selLabel.setAttribute("y", y.toFixed(1));
      selLabel.textContent = selected.name;
      if (focus) centerOn(selected.label, W / 3);
    },
    setLabel(text) {
      svg.setAttribute("aria-label", text);
    },
    zoom(dir) {
      if (dir === "in") zoomAt(1.6);
      else if (dir === "out") zoomAt(1 / 1.6);
      else {
        vb = { x: 0, y: 0, w: W, h: H };
        apply();
      }
    },
  };
}
