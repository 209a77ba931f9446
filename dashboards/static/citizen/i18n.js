// Words of the citizens' page, Bahasa Indonesia first, and how times and numbers are written.
// The server's answers carry their own texts (cause, explanation, handling, restore estimate) in
// the language asked for; this file has the page's own words.

export const LANGS = ["id", "en"];

const T = {
  id: {
    skip: "Langsung ke pencarian kelurahan",
    brand: "Pantau · Info gangguan Kota Semarang",
    title: "Ada gangguan listrik atau wifi publik di kelurahan saya?",
    askTitle: "Kenapa mati? Cek kelurahan Anda",
    searchLabel: "Nama kelurahan",
    searchHint: "mis. Sendangmulyo",
    searchHelp: "Ketik beberapa huruf lalu pilih, atau pakai lokasi Anda.",
    check: "Cek",
    here: "Pakai lokasi saya",
    locating: "Mencari lokasi Anda…",
    noGeo: "Lokasi tidak tersedia di perangkat ini. Ketik nama kelurahan Anda.",
    geoDenied: "Izin lokasi ditolak. Ketik nama kelurahan Anda.",
    geoFailed: "Lokasi tidak dapat ditentukan. Ketik nama kelurahan Anda.",
    asking: "Memeriksa…",
    offline: "Tidak dapat menghubungi server. Coba lagi sebentar.",
    notFound: "Kelurahan “{q}” tidak ditemukan.",
    didYouMean: "Maksud Anda:",
    whichKec: "Nama ini ada di beberapa kecamatan. Pilih:",
    typeSome: "Ketik nama kelurahan dulu.",
    mapTitle: "Peta status kelurahan",
    mapHelp: "Ketuk kelurahan di peta untuk melihat penjelasannya.",
    mapLoading: "Memuat peta…",
    mapFailed: "Peta tidak dapat dimuat; pencarian tetap bisa dipakai.",
    mapLabel: "Peta {n} kelurahan Kota Semarang menurut status: {out} ada gangguan, {mnt} pemeliharaan terjadwal. Daftar wilayah terdampak ada di bawah peta.",
    zoomIn: "Perbesar peta",
    zoomOut: "Perkecil peta",
    zoomReset: "Seluruh kota",
    legend: "Keterangan warna",
    st_normal: "Normal",
    st_outage: "Ada gangguan",
    st_maintenance: "Pemeliharaan terjadwal",
    st_unknown: "Belum ada data",
    affectedTitle: "Wilayah dengan gangguan sekarang",
    noneAffected: "Tidak ada gangguan yang tercatat saat ini.",
    plannedTitle: "Pemadaman terencana PLN",
    nonePlanned: "Tidak ada pemadaman terencana yang diumumkan.",
    servicesTitle: "Layanan daring Pemerintah Kota",
    svc_up: "berjalan normal",
    svc_down: "terganggu",
    svc_degraded: "lambat",
    svc_unknown: "belum diperiksa",
    footer: "Data otomatis dari Pantau, Pemerintah Kota Semarang: titik wifi publik dan jaringan listrik dipantau terus; waktu dalam WIB. Listrik rumah padam? Hubungi PLN 123 atau aplikasi PLN Mobile.",
    updated: "Diperbarui {t} WIB · diperbarui otomatis",
    why: "Kenapa mati?",
    kec: "Kec.",
    whatOut: "Yang terganggu:",
    since: "sejak",
    hotspotsAffected: "{n} titik wifi publik terdampak",
    hotspotsHere: "Titik wifi publik di kelurahan ini: {up} menyala, {down} mati (dari {total}).",
    hotspotsNone: "Tidak ada titik wifi publik di kelurahan ini; status listrik tetap dipantau.",
    allWell: "Tidak ada gangguan yang tercatat di kelurahan ini.",
    someDown: "{n} titik wifi publik tidak merespons; sedang diperiksa.",
    noEtr: "Belum ada perkiraan kapan pulih.",
    plannedHere: "Pemadaman terencana",
    plannedNow: "sedang berlangsung",
    tipPower: "Listrik rumah Anda juga padam? Laporkan ke PLN: telepon 123 atau aplikasi PLN Mobile.",
    tipWifi: "Listrik tidak terganggu; hanya wifi publik yang terputus.",
    close: "Tutup",
    planned: "terencana",
    handled: "ditangani",
    out_power_grid: "listrik dan wifi publik",
    out_planned_maintenance: "listrik dan wifi publik (pemadaman terencana)",
    out_network_uplink: "internet wifi publik (jaringan)",
    out_device: "perangkat wifi publik",
    out_service: "layanan daring",
    out_unknown: "wifi publik (penyebab sedang diperiksa)",
  },
  en: {
    skip: "Skip to the kelurahan search",
    brand: "Pantau · Semarang outage information",
    title: "Is there a power or public wifi outage in my kelurahan?",
    askTitle: "Why is it out? Check your kelurahan",
    searchLabel: "Kelurahan name",
    searchHint: "e.g. Sendangmulyo",
    searchHelp: "Type a few letters and pick one, or use your location.",
    check: "Check",
    here: "Use my location",
    locating: "Finding your location…",
    noGeo: "Location is not available on this device. Type your kelurahan's name.",
    geoDenied: "Location permission denied. Type your kelurahan's name.",
    geoFailed: "Your location could not be found. Type your kelurahan's name.",
    asking: "Checking…",
    offline: "Cannot reach the server. Please try again shortly.",
    notFound: "No kelurahan named “{q}”.",
    didYouMean: "Did you mean:",
    whichKec: "This name exists in several kecamatan. Choose one:",
    typeSome: "Type a kelurahan name first.",
    mapTitle: "Map of kelurahan by status",
    mapHelp: "Tap a kelurahan on the map to see what is going on.",
    mapLoading: "Loading the map…",
    mapFailed: "The map could not be loaded; the search still works.",
    mapLabel: "Map of Semarang's {n} kelurahan by status: {out} with an outage, {mnt} under scheduled maintenance. The affected areas are listed below the map.",
    zoomIn: "Zoom in",
    zoomOut: "Zoom out",
    zoomReset: "Whole city",
    legend: "Colour key",
    st_normal: "Normal",
    st_outage: "Outage",
    st_maintenance: "Scheduled maintenance",
    st_unknown: "No data yet",
    affectedTitle: "Areas with an outage now",
    noneAffected: "No outage recorded right now.",
    plannedTitle: "Planned PLN power cuts",
    nonePlanned: "No planned power cut announced.",
    servicesTitle: "City online services",
    svc_up: "working",
    svc_down: "down",
    svc_degraded: "slow",
    svc_unknown: "not checked yet",
    footer: "Automatic data from Pantau, Semarang City Government: public wifi hotspots and the power grid are watched continuously; times in WIB (UTC+7). Power out at home? Call PLN on 123 or use the PLN Mobile app.",
    updated: "Updated {t} WIB · refreshes automatically",
    why: "Why is it out?",
    kec: "Kec.",
    whatOut: "What is out:",
    since: "since",
    hotspotsAffected: "{n} public wifi hotspots affected",
    hotspotsHere: "Public wifi hotspots in this kelurahan: {up} up, {down} down (of {total}).",
    hotspotsNone: "No public wifi hotspot in this kelurahan; its power supply is still watched.",
    allWell: "No outage recorded in this kelurahan.",
    someDown: "{n} public wifi hotspots are not answering; being checked.",
    noEtr: "No estimate yet of when it will be back.",
    plannedHere: "Planned power cut",
    plannedNow: "in progress",
    tipPower: "Power out at home too? Report it to PLN: call 123 or use the PLN Mobile app.",
    tipWifi: "The power is on; only the public wifi is cut off.",
    close: "Close",
    planned: "planned",
    handled: "being handled",
    out_power_grid: "power and public wifi",
    out_planned_maintenance: "power and public wifi (planned cut)",
    out_network_uplink: "public wifi internet (network)",
    out_device: "public wifi equipment",
    out_service: "online services",
    out_unknown: "public wifi (cause being investigated)",
  },
};

let current = "id";

export function lang() {
  return current;
}

export function setLang(l) {
  current = LANGS.includes(l) ? l : "id";
  document.documentElement.lang = current;
}

/** A word of the page, with {placeholders} filled in. */
export function t(key, vars = {}) {
  const s = T[current][key] ?? T.id[key] ?? key;
  return s.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

/** Every element marked data-t / data-t-label / data-t-placeholder gets its words again. */
export function translatePage(root = document) {
  for (const el of root.querySelectorAll("[data-t]")) el.textContent = t(el.dataset.t);
  for (const el of root.querySelectorAll("[data-t-label]")) el.setAttribute("aria-label", t(el.dataset.tLabel));
  const q = root.getElementById ? root.getElementById("q") : null;
  if (q) q.placeholder = t("searchHint");
  document.title = current === "id" ? "Info gangguan listrik & wifi publik — Pantau" : "Power and public wifi outages — Pantau";
}

const locale = () => (current === "id" ? "id-ID" : "en-GB");

export function num(n) {
  return new Intl.NumberFormat(locale()).format(n);
}

/** "12.01" (id) / "12:01" (en) of an ISO time in WIB, read from the string: no clock of the phone involved. */
export function hm(iso) {
  const s = String(iso).slice(11, 16);
  return current === "id" ? s.replace(":", ".") : s;
}

function wibDate(iso) {
  return new Date(iso);
}

/** "Senin, 7 Des" / "Mon 7 Dec" in WIB. */
export function day(iso) {
  return new Intl.DateTimeFormat(locale(), {
    weekday: "long",
    day: "numeric",
    month: "short",
    timeZone: "Asia/Jakarta",
  }).format(wibDate(iso));
}

/** "12.01 WIB", or "Senin, 7 Des 12.01 WIB" when it is not today (WIB). */
export function when(iso, now = new Date()) {
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Jakarta" }).format(now);
  const same = String(iso).slice(0, 10) === today;
  return (same ? "" : day(iso) + " ") + hm(iso) + " WIB";
}

/** The city's line: the same words the server writes into the page (api/public.py, city_line). */
export function cityLine(doc) {
  const by = doc.kelurahan_by_status || {};
  const hs = doc.hotspots;
  let head;
  let detail;
  if (current === "id") {
    head = by.outage
      ? `Ada gangguan di ${num(by.outage)} kelurahan.`
      : by.maintenance
        ? `Pemeliharaan terjadwal di ${num(by.maintenance)} kelurahan.`
        : "Semua normal.";
    detail = `${num(hs.up)} dari ${num(hs.total)} titik wifi publik di ${doc.city} menyala`;
    if (by.outage && by.maintenance) detail += `; ${num(by.maintenance)} kelurahan dalam pemeliharaan terjadwal`;
    detail += ` · diperbarui ${hm(doc.updated_at)} WIB`;
  } else {
    head = by.outage
      ? `Outage in ${num(by.outage)} kelurahan.`
      : by.maintenance
        ? `Scheduled maintenance in ${num(by.maintenance)} kelurahan.`
        : "All normal.";
    detail = `${num(hs.up)} of ${num(hs.total)} public wifi hotspots in ${doc.city} are up`;
    if (by.outage && by.maintenance) detail += `; ${num(by.maintenance)} kelurahan under scheduled maintenance`;
    detail += ` · updated ${hm(doc.updated_at)} WIB`;
  }
  return { head, detail };
}
