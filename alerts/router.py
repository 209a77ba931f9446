"""Incidents → alerts → routed, grouped, silenced notifications in the durable outbox.

Alertmanager's model, driven by the explainer's incident changes instead of scraped rules:
- every incident is one alert (labels: cause, root, severity, kecamatan, city, incident_id);
  an open incident fires, a closed one resolves;
- each receiver's ``route`` picks alerts by cause, area and minimum severity;
- alerts with equal ``group_by`` labels form a group: the first notification waits
  ``group_wait_s`` (so a feeder trip and the incidents it absorbs go out once), later changes wait
  for ``group_interval_s``, an unchanged firing group is repeated every ``repeat_interval_s``; as in
  Alertmanager, a change that pages is an alert firing, resolving, or changing what it is (cause,
  root, severity) — not the areas it reaches, the affected count, confidence or wording, which go
  out with the next notification: a growing outage pages once;
- alerts matching an active silence (matchers: name, value, is_regex, is_equal) are left out;
- a notification is written to the outbox (SQLite) before anyone tries to send it; delivery
  (:mod:`alerts.delivery`) retries until the receiver accepts it.

The router remembers what each group last sent (a hash in the outbox row), so a restart does not
page again for incidents already notified.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time

from alerts.config import SEVERITIES, Receiver, ReceiverFile
from alerts.formats import render
from store.state import StateDB

log = logging.getLogger("pantau.alerts")

# The labels whose change re-notifies a group (what the incident is); the others — the areas it
# reaches — grow with an outage and go out with the next notification.
PAGE_LABELS = ("cause", "root", "severity")


def severity(inc: dict) -> str:
    cause, kind = inc["cause"], inc["root"].partition(":")[0]
    n = len(inc.get("affected") or [])
    if cause == "planned_maintenance":
        return "info"
    if cause in ("power_grid", "network_uplink"):
        return "critical" if kind in ("substation", "feeder") or n >= 20 else "warning"
    if cause == "service":
        return "critical"
    if cause == "unknown":
        return "warning"
    return "info"  # one device


def alert_of(inc: dict) -> dict:
    kec = sorted({a.split("/")[0] for a in inc.get("areas") or []})
    resolved = inc["status"] != "open"
    return {
        "fingerprint": hashlib.sha1(inc["id"].encode()).hexdigest()[:16],
        "status": "resolved" if resolved else "firing",
        "labels": {
            "alertname": "PantauIncident",
            "cause": inc["cause"],
            "root": inc["root"],
            "severity": severity(inc),
            "kecamatan": ",".join(kec),
            "city": inc["city"],
            "incident_id": inc["id"],
        },
        "annotations": {
            "summary": inc["explanation_en"],
            "summary_id": inc["explanation_id"],
            "affected_hotspots": str(len(inc.get("affected") or [])),
            "areas": ", ".join(inc.get("areas") or []),
            "confidence": f"{inc['confidence']:.2f}",
            **({"merged_into": inc["merged_into"]} if inc.get("merged_into") else {}),
        },
        "startsAt": inc["opened_at"],
        "endsAt": inc["closed_at"] if resolved else None,
    }


def route_matches(r: Receiver, alert: dict) -> bool:
    lab = alert["labels"]
    if r.route.causes and lab["cause"] not in r.route.causes:
        return False
    if r.route.kecamatan and not set(lab["kecamatan"].split(",")) & set(r.route.kecamatan):
        return False
    return SEVERITIES.index(lab["severity"]) >= SEVERITIES.index(r.route.min_severity)


def silenced_by(silences: list[dict], labels: dict) -> str | None:
    for s in silences:
        ok = True
        for m in s["matchers"]:
            val = labels.get(m["name"], "")
            if m.get("is_regex"):
                hit = re.fullmatch(m["value"], val) is not None
            else:
                hit = val == m["value"]
            if hit != m.get("is_equal", True):
                ok = False
                break
        if ok:
            return s["id"]
    return None


class Group:
    __slots__ = ("key", "labels", "alerts", "due", "last_sent", "last_hash", "notified_firing")

    def __init__(self, key: str, labels: dict):
        self.key, self.labels = key, labels
        self.alerts: dict[str, dict] = {}
        self.due: float | None = None
        self.last_sent: float | None = None
        self.last_hash = ""
        self.notified_firing: set[str] = set()  # fingerprints a receiver has seen firing


class AlertRouter:
    def __init__(self, conf: ReceiverFile, state: StateDB, silence_refresh_s: float = 2.0):
        self.conf = conf
        self.state = state
        self.groups: dict[tuple[str, str], Group] = {}
        self.silence_refresh_s = silence_refresh_s
        self._silences: list[dict] = []
        self._silences_at = 0.0
        self.suppressed = 0
        self.enqueued = 0
        self.where: dict[tuple[str, str], str] = {}  # (receiver, fingerprint) -> group key it is in
        self._restore()

    def reset(self) -> None:
        """Forget the groups in memory and start again from the outbox (a node taking over)."""
        self.groups.clear()
        self.where.clear()
        self._restore()

    def _restore(self) -> None:
        """What each group last sent (so a restart does not page again)."""
        for r in self.state.last_sent_per_group():
            h = json.loads(r["headers"])
            g = Group(r["group_key"], json.loads(h.get("X-Pantau-Group-Labels", "{}")))
            g.last_sent, g.last_hash = r["created_at"], h.get("X-Pantau-Group-Hash", "")
            g.notified_firing = set(json.loads(h.get("X-Pantau-Firing", "[]")))
            self.groups[(r["receiver"], r["group_key"])] = g

    def silences(self, now: float) -> list[dict]:
        if now - self._silences_at >= self.silence_refresh_s:
            try:
                self._silences = self.state.silences(active_at=now)
            except Exception:
                log.exception("cannot read silences (keeping the last ones)")
            self._silences_at = now
        return self._silences

    # --- input ----------------------------------------------------------------------------------
    def on_incidents(self, changed: list[dict], _log=None, now: float | None = None) -> None:
        now = now or time.time()
        for inc in changed:
            alert = alert_of(inc)
            for r in self.conf.receivers:
                if not route_matches(r, alert):
                    continue
                glabels = {k: alert["labels"][k] for k in r.group_by}
                gkey = json.dumps(glabels, sort_keys=True)
                fp = alert["fingerprint"]
                before = self.where.get((r.name, fp))
                if before is not None and before != gkey:
                    # Its labels moved it (a re-rooted incident): it continues in its new group under the
                    # same fingerprint; the old group forgets it without a resolve.
                    old_g = self.groups.get((r.name, before))
                    if old_g is not None:
                        old_g.alerts.pop(fp, None)
                        old_g.notified_firing.discard(fp)
                self.where[(r.name, fp)] = gkey
                g = self.groups.get((r.name, gkey))
                if g is None:
                    g = self.groups[(r.name, gkey)] = Group(gkey, glabels)
                old = g.alerts.get(alert["fingerprint"])
                g.alerts[alert["fingerprint"]] = alert
                if (
                    old is not None
                    and old["status"] == alert["status"]
                    and old["labels"] == alert["labels"]
                    and old["annotations"] == alert["annotations"]
                ):
                    continue
                if alert["status"] == "resolved" and alert["fingerprint"] not in g.notified_firing and g.due is None:
                    g.alerts.pop(alert["fingerprint"])  # never notified firing: nothing to resolve
                    continue
                first = g.last_sent is None
                due = now + r.group_wait_s if first else max(now, g.last_sent + r.group_interval_s)
                g.due = min(g.due, due) if g.due is not None else due

    # --- output ---------------------------------------------------------------------------------
    def flush(self, now: float | None = None) -> int:
        """Write due notifications to the outbox; returns how many."""
        now = now or time.time()
        n = 0
        receivers = {r.name: r for r in self.conf.receivers}
        for (rname, gkey), g in list(self.groups.items()):
            r = receivers.get(rname)
            if r is None:
                continue
            firing = [a for a in g.alerts.values() if a["status"] == "firing"]
            if g.due is None and firing and g.last_sent is not None and now >= g.last_sent + r.repeat_interval_s:
                g.due = now  # repeat
            if g.due is None or now < g.due:
                continue
            sil = self.silences(now)
            alerts = []
            for a in g.alerts.values():
                if silenced_by(sil, a["labels"]):
                    self.suppressed += 1
                    continue
                if a["status"] == "resolved" and (not r.send_resolved or a["fingerprint"] not in g.notified_firing):
                    continue
                alerts.append(a)
            g.due = None
            resolved = [fp for fp, a in g.alerts.items() if a["status"] == "resolved"]
            if alerts:
                firing_fps = sorted(a["fingerprint"] for a in alerts if a["status"] == "firing")
                h = hashlib.sha1(
                    json.dumps(
                        [
                            (a["fingerprint"], a["status"], [a["labels"][k] for k in PAGE_LABELS])
                            for a in sorted(alerts, key=lambda a: a["fingerprint"])
                        ]
                    ).encode()
                ).hexdigest()
                repeat = g.last_sent is not None and now >= g.last_sent + r.repeat_interval_s
                if h != g.last_hash or repeat:
                    body, headers = render(r, self.conf, g, alerts, now)
                    headers.update(
                        {
                            "X-Pantau-Group-Hash": h,
                            "X-Pantau-Group-Labels": json.dumps(g.labels),
                            "X-Pantau-Firing": json.dumps(firing_fps),
                        }
                    )
                    self.state.enqueue(r.name, gkey, body, headers)
                    g.last_sent, g.last_hash = now, h
                    g.notified_firing = (g.notified_firing | set(firing_fps)) - set(resolved)
                    self.enqueued += 1
                    n += 1
            for fp in resolved:
                g.alerts.pop(fp, None)
                g.notified_firing.discard(fp)
                self.where.pop((rname, fp), None)
            if not g.alerts and (g.last_sent is None or now - g.last_sent > r.repeat_interval_s):
                self.groups.pop((rname, gkey), None)
        return n
