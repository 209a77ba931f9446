// The overview: the city map with the open incidents beside it. Selecting an incident highlights
// its hotspots and root on the map and opens its detail with the operator's actions.

import { store } from "./store.js";
import { CityMap } from "./map.js";
import { t } from "./i18n.js";
import { el, fill, refill } from "./util.js";
import { incidentList, incidentDetail } from "./incidents.js";

export function overviewView(root, params) {
  const map = new CityMap();
  const listBox = el("div.listbox");
  const detailBox = el("div.detailbox");
  let shown = "";
  const side = el(
    "aside.side",
    { "aria-label": t("inc.open") },
    el("h2", t("inc.open"), " ", el("span.count#open-count")),
    listBox,
    detailBox,
  );
  fill(root, el("div.overview", map.node, side));

  const renderList = () => {
    fill(listBox, incidentList(store.incidents, { selectedId: store.selected && store.selected.id, onSelect: toggle }));
    root.querySelector("#open-count").textContent = `(${store.incidents.length})`;
  };
  const renderDetail = (d, message = null) => {
    if (!d) {
      fill(detailBox);
      shown = "";
      return;
    }
    const sig = JSON.stringify([d.id, d.updated_at, d.status, d.acknowledged, d.notes.length, d.log.length]);
    if (sig === shown && !message) return;
    const same = shown.startsWith(JSON.stringify([d.id]).slice(0, -1));
    shown = sig;
    (message || !same ? fill : refill)(
      detailBox,
      el("button.link.close", { type: "button", on: { click: () => toggle(d.id) } }, "× " + t("common.close")),
      incidentDetail(d, {
        message,
        showMap: (x) => map.highlight(x),
        onChanged: async (text) => {
          await store.refreshIncidents();
          renderDetail(store.selected, text);
        },
      }),
    );
  };
  const toggle = async (id) => {
    if (store.selected && store.selected.id === id) await store.select(null);
    else await store.select(id);
  };
  const onSel = (d) => {
    renderList();
    renderDetail(d);
    map.highlight(d, { fit: !map.highlighted || !d || map.highlighted.id !== d.id });
  };
  const onIncs = () => renderList();
  const selHandler = (e) => onSel(e.detail);
  store.addEventListener("selection", selHandler);
  store.addEventListener("incidents", onIncs);
  renderList();
  const wanted = params.get("incident");
  if (wanted) store.select(wanted);
  else if (store.selected) onSel(store.selected);
  const hs = params.get("hotspot");
  if (hs) requestAnimationFrame(() => requestAnimationFrame(() => map.focusHotspot(hs)));
  return () => {
    store.removeEventListener("selection", selHandler);
    store.removeEventListener("incidents", onIncs);
    map.destroy();
  };
}
