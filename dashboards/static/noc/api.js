// The NOC's link to Pantau's API: the operator's key (kept in sessionStorage for this tab, sent as
// X-API-Key, never in a URL), JSON requests, and the live event stream. EventSource cannot send a
// header, so the stream is read with fetch and parsed here (text/event-stream framing).

const KEY = "pantau-key";

export class ApiError extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : `HTTP ${status}`);
    this.status = status;
    this.detail = detail;
  }
}

export function getKey() {
  return sessionStorage.getItem(KEY) || "";
}

export function setKey(k) {
  if (k) sessionStorage.setItem(KEY, k.trim());
  else sessionStorage.removeItem(KEY);
}

/** GET/POST/DELETE a path under api/v1 (relative to the page: works under /cities/<city>/noc too). */
export async function api(path, { method = "GET", body, raw = false, signal } = {}) {
  const headers = { "X-API-Key": getKey(), Accept: raw ? "*/*" : "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const r = await fetch("api/v1/" + path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    signal,
    cache: "no-store",
  });
  if (!r.ok) {
    let detail = `HTTP ${r.status}`;
    try {
      const j = await r.json();
      detail = typeof j.detail === "string" ? j.detail : JSON.stringify(j.detail);
    } catch {
      /* not JSON */
    }
    throw new ApiError(r.status, detail);
  }
  if (r.status === 204) return null;
  return raw ? r.text() : r.json();
}

/** Every item of a paged list (limit at most 1000 per request). */
export async function all(path, limit = 1000) {
  const sep = path.includes("?") ? "&" : "?";
  let out = [];
  for (let offset = 0; ; offset += limit) {
    const page = await api(`${path}${sep}limit=${limit}&offset=${offset}`);
    out = out.concat(page.items);
    if (offset + limit >= page.total) return out;
  }
}

/** Public (no key) JSON. */
export async function publicJson(path) {
  const r = await fetch("api/v1/public/" + path);
  if (!r.ok) throw new ApiError(r.status, `HTTP ${r.status}`);
  return r.json();
}

/**
 * Follow /api/v1/events: calls onEvent(type, data, id) for every event, onStatus("on"|"connecting"|"off").
 * Reconnects with a growing pause, resuming incident events after the last id seen. Returns stop().
 */
export function stream(onEvent, onStatus) {
  let stopped = false;
  let last = null;
  let ctrl = null;
  let pause = 1000;

  async function run() {
    while (!stopped) {
      onStatus("connecting");
      ctrl = new AbortController();
      try {
        const q = last === null ? "" : `?after=${encodeURIComponent(last)}`;
        const r = await fetch("api/v1/events" + q, {
          headers: { "X-API-Key": getKey(), Accept: "text/event-stream" },
          signal: ctrl.signal,
          cache: "no-store",
        });
        if (r.status === 401 || r.status === 403) {
          onStatus("off");
          onEvent("auth", { status: r.status });
          return;
        }
        if (!r.ok || !r.body) throw new Error(`HTTP ${r.status}`);
        onStatus("on");
        pause = 1000;
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value.replace(/\r\n?/g, "\n");
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let type = "message", id = null;
            const data = [];
            for (const line of block.split("\n")) {
              if (line.startsWith(":")) continue;
              const c = line.indexOf(":");
              const field = c < 0 ? line : line.slice(0, c);
              const val = c < 0 ? "" : line.slice(c + 1).replace(/^ /, "");
              if (field === "event") type = val;
              else if (field === "data") data.push(val);
              else if (field === "id") id = val;
            }
            if (!data.length) continue;
            let parsed;
            try {
              parsed = JSON.parse(data.join("\n"));
            } catch {
              continue;
            }
            if (type === "hello" && last === null) last = parsed.incident_event_id;
            if (id !== null && type === "incident") last = id;
            onEvent(type, parsed, id);
          }
        }
      } catch (e) {
        if (stopped) return;
      }
      if (stopped) return;
      onStatus("off");
      await new Promise((res) => setTimeout(res, pause));
      pause = Math.min(pause * 2, 15000);
    }
  }
  run();
  return () => {
    stopped = true;
    if (ctrl) ctrl.abort();
  };
}
