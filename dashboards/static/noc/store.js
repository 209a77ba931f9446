// What the console knows, shared by every view: the hotspots with their health, the open
// incidents, the grid, the city's areas. Kept current by the event stream (store.apply) and a
// slow full re-read (store.resync) that repairs anything a lost connection missed. Views listen
// with store.on("hotspots" | "incidents" | "grid" | "selection", fn).

import { api, all, publicJson } from "./api.js";
import { debounce } from "./util.js";

class Store extends EventTarget {
  constructor() {
    super();
    this.hotspots = []; // HotspotOut rows, inventory order
    this.byId = new Map();
    this.incidents = []; // open incidents, newest first
    this.grid = new Map(); // element -> GridElement
    this.areas = null; // /public/areas or null (not offered)
    this.selected = null; // selected incident (detail) or null
    this.loadedAt = 0;
  }

  on(type, fn) {
    this.addEventListener(type, (e) => fn(e.detail));
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  async load() {
    const [hs, incs, grid, areas] = await Promise.all([
      all("hotspots"),
      api("incidents?status=open&limit=500"),
      all("grid"),
      publicJson("areas").catch(() => null),
    ]);
    this.areas = areas;
    this.setHotspots(hs);
    this.setIncidents(incs.items);
    this.setGrid(grid);
    this.loadedAt = Date.now();
  }

  async resync() {
    const [hs, grid] = await Promise.all([all("hotspots"), all("grid")]);
    this.setHotspots(hs);
    this.setGrid(grid);
    await this.refreshIncidents();
  }

  setHotspots(rows) {
    this.hotspots = rows;
    this.byId = new Map(rows.map((h) => [h.id, h]));
    this.emit("hotspots", { all: true });
  }

  setGrid(rows) {
    this.grid = new Map(rows.map((g) => [g.element, g]));
    this.emit("grid", { all: true });
  }

  setIncidents(items) {
    this.incidents = items;
    this.emit("incidents", items);
  }

  async refreshIncidents() {
    const r = await api("incidents?status=open&limit=500");
    this.setIncidents(r.items);
    if (this.selected) await this.select(this.selected.id, { quiet: true });
  }

  /** Select an incident (its detail is fetched) or null; views highlight it. */
  async select(id, { quiet = false } = {}) {
    if (!id) {
      this.selected = null;
      this.emit("selection", null);
      return null;
    }
    const detail = await api(`incidents/${encodeURIComponent(id)}`);
    if (quiet && (!this.selected || this.selected.id !== id)) return detail;
    this.selected = detail;
    this.emit("selection", detail);
    return detail;
  }

  /** Re-read the selected incident soon (once per burst of changes, at least every 3 s of one). */
  reselect() {
    if (!this._reselect) {
      this._reselect = debounce(
        () => {
          if (this.selected) this.select(this.selected.id, { quiet: true }).catch(() => {});
        },
        1000,
        3000,
      );
    }
    this._reselect();
  }

  counts() {
    const c = { up: 0, degraded: 0, down: 0, unknown: 0 };
    for (const h of this.hotspots) c[h.state] = (c[h.state] || 0) + 1;
    return c;
  }

  /** One event of the live stream. */
  apply(type, data) {
    if (type === "hotspot_state") {
      const h = this.byId.get(data.element.slice("hotspot:".length));
      if (h && h.state !== data.new) {
        h.state = data.new;
        h.since = Date.now() / 1000;
        this.emit("hotspots", { changed: [h.id] });
        // the selected incident may take this hotspot in (its affected list grows with the evidence)
        if (this.selected && this.selected.status === "open") this.reselect();
      }
    } else if (type === "grid_state") {
      const g = this.grid.get(data.element);
      if (g) {
        g.state = data.new;
        g.since = Date.now() / 1000;
        this.emit("grid", { changed: [data.element] });
      }
    }
  }
}

export const store = new Store();
