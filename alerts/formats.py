"""Notification payloads: Alertmanager webhook v4 (existing receivers work unchanged), plain JSON,
Telegram ``sendMessage`` and Slack incoming-webhook messages. Bahasa Indonesia first in chat."""

from __future__ import annotations

import json
from datetime import datetime, timezone

ZERO = "0001-01-01T00:00:00Z"


def rfc3339(t: float | None) -> str:
    if t is None:
        return ZERO
    return datetime.fromtimestamp(t, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _common(alerts: list[dict], part: str) -> dict:
    if not alerts:
        return {}
    first = dict(alerts[0][part])
    return {k: v for k, v in first.items() if all(a[part].get(k) == v for a in alerts[1:])}


def alertmanager(receiver, conf, group, alerts: list[dict]) -> dict:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return {
        "version": "4",
        "groupKey": f"{{}}:{{{','.join(f'{k}={v!r}' for k, v in sorted(group.labels.items()))}}}",
        "truncatedAlerts": 0,
        "status": status,
        "receiver": receiver.name,
        "groupLabels": group.labels,
        "commonLabels": _common(alerts, "labels"),
        "commonAnnotations": _common(alerts, "annotations"),
        "externalURL": conf.external_url,
        "alerts": [
            {
                "status": a["status"],
                "labels": a["labels"],
                "annotations": a["annotations"],
                "startsAt": rfc3339(a["startsAt"]),
                "endsAt": rfc3339(a["endsAt"]),
                "generatorURL": f"{conf.external_url}/api/v1/incidents/{a['labels']['incident_id']}",
                "fingerprint": a["fingerprint"],
            }
            for a in alerts
        ],
    }


def plain(receiver, conf, group, alerts: list[dict]) -> dict:
    return {
        "receiver": receiver.name,
        "group": group.labels,
        "status": "firing" if any(a["status"] == "firing" for a in alerts) else "resolved",
        "incidents": [
            {
                "id": a["labels"]["incident_id"],
                "status": a["status"],
                "cause": a["labels"]["cause"],
                "root": a["labels"]["root"],
                "severity": a["labels"]["severity"],
                "kecamatan": a["labels"]["kecamatan"],
                "opened_at": rfc3339(a["startsAt"]),
                "closed_at": rfc3339(a["endsAt"]) if a["endsAt"] else None,
                "affected_hotspots": int(a["annotations"]["affected_hotspots"]),
                "explanation": {"id": a["annotations"]["summary_id"], "en": a["annotations"]["summary"]},
                "url": f"{conf.external_url}/api/v1/incidents/{a['labels']['incident_id']}",
            }
            for a in alerts
        ],
    }


ICON = {"critical": "\U0001f534", "warning": "\U0001f7e0", "info": "\U0001f535"}


def chat_text(alerts: list[dict], html: bool) -> str:
    lines = []
    for a in alerts:
        lab, ann = a["labels"], a["annotations"]
        icon = "\u2705" if a["status"] == "resolved" else ICON.get(lab["severity"], "")
        head = "SELESAI / RESOLVED" if a["status"] == "resolved" else "GANGGUAN / FIRING"
        b0, b1 = ("<b>", "</b>") if html else ("*", "*")
        esc = (lambda s: s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")) if html else (lambda s: s)
        lines.append(
            f"{icon} {b0}{head}{b1} {esc(lab['cause'])} @ {esc(lab['root'])} ({lab['incident_id']})\n"
            f"{esc(ann['summary_id'])}\n{esc(ann['summary'])}"
        )
    return "\n\n".join(lines)


def telegram(receiver, conf, group, alerts: list[dict]) -> dict:
    return {
        "chat_id": receiver.chat_id,
        "text": chat_text(alerts, html=True)[:4000],
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
    }


def slack(receiver, conf, group, alerts: list[dict]) -> dict:
    text = chat_text(alerts, html=False)
    return {"text": text[:3000], "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}]}


def alertmanager_api(receiver, conf, group, alerts: list[dict], now: float) -> list[dict]:
    """Alertmanager API v2 ``POST /api/v2/alerts``: Pantau pushes its incidents into the NOC's own
    Alertmanager (its routing, silences and inhibitions then apply). A resolved incident is sent
    with its close time as ``endsAt`` (Alertmanager resolves it); a firing one with ``endsAt`` three
    repeat intervals ahead, renewed by every repeat, so an alert of a Pantau that died expires
    instead of firing for ever (Pantau's own health rules page for the dead Pantau)."""
    out = []
    for a in alerts:
        ends = a["endsAt"] if a["status"] == "resolved" and a["endsAt"] else now + 3 * receiver.repeat_interval_s
        out.append(
            {
                "labels": {k: str(v) for k, v in a["labels"].items()},
                "annotations": {k: str(v) for k, v in a["annotations"].items()},
                "startsAt": rfc3339(a["startsAt"]),
                "endsAt": rfc3339(ends),
                "generatorURL": f"{conf.external_url}/api/v1/incidents/{a['labels']['incident_id']}",
            }
        )
    return out


FORMATS = {"alertmanager": alertmanager, "json": plain, "telegram": telegram, "slack": slack}


def render(receiver, conf, group, alerts: list[dict], now: float) -> tuple[bytes, dict]:
    if receiver.format == "alertmanager_api":
        doc: object = alertmanager_api(receiver, conf, group, alerts, now)
    else:
        doc = FORMATS[receiver.format](receiver, conf, group, alerts)
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    return body, {"Content-Type": "application/json", "User-Agent": "Pantau-alerts/1"}
