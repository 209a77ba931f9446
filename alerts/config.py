"""Receivers as data (``config/receivers.yaml`` or ``--receivers FILE``), loaded strictly.

Secrets (HMAC keys, chat bot tokens) are named in a ``secrets`` section — or taken from the
environment (``PANTAU_SECRET_<NAME>``) — and referenced by name; they are ``SecretStr`` and never
printed. ``${secret:NAME}`` inside a URL is replaced when sending (Telegram puts its token there).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from hotspots.datafile import DataFileError, Problem, read_yaml, validate

CAUSES = ("power_grid", "planned_maintenance", "network_uplink", "device", "service", "unknown")
SEVERITIES = ("info", "warning", "critical")
LABELS = ("cause", "root", "severity", "kecamatan", "city", "incident_id")
SECRET_REF = re.compile(r"\$\{secret:([A-Za-z0-9_-]+)\}")


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    causes: list[Literal[CAUSES]] = []  # empty: every cause
    kecamatan: list[str] = []  # empty: every area
    min_severity: Literal[SEVERITIES] = "info"


class Receiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")]
    url: Annotated[str, Field(pattern=r"^https?://")]
    # alertmanager: webhook v4 payload (what Alertmanager sends); alertmanager_api: push into an
    # Alertmanager's API v2 (url …/api/v2/alerts), with resolve.
    format: Literal["alertmanager", "alertmanager_api", "json", "telegram", "slack"] = "alertmanager"
    hmac_secret: str | None = None  # name of a secret: X-Pantau-Signature on every request
    chat_id: str | None = None  # telegram
    route: Route = Route()
    group_by: list[Literal[LABELS]] = ["incident_id"]  # one group per incident: a re-rooted incident stays in it
    group_wait_s: Annotated[float, Field(ge=0)] = 10.0
    group_interval_s: Annotated[float, Field(gt=0)] = 60.0
    repeat_interval_s: Annotated[float, Field(gt=0)] = 4 * 3600.0
    send_resolved: bool = True
    timeout_s: Annotated[float, Field(gt=0)] = 10.0
    retry_min_s: Annotated[float, Field(gt=0)] = 1.0
    retry_max_s: Annotated[float, Field(gt=0)] = 60.0


class ReceiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    external_url: str = "http://127.0.0.1:8000"  # where people open Pantau (links in alerts)
    receivers: list[Receiver] = []
    secrets: dict[str, SecretStr] = {}


def load_receivers(path: str | Path) -> ReceiverFile:
    data, lines = read_yaml(path)
    rf = validate(ReceiverFile, data, lines)
    problems, names = [], set()
    secrets = dict(rf.secrets)
    for i, r in enumerate(rf.receivers):
        if r.name in names:
            problems.append(lines.problem(("receivers", i, "name"), f"duplicate receiver {r.name!r}"))
        names.add(r.name)
        refs = ([r.hmac_secret] if r.hmac_secret else []) + SECRET_REF.findall(r.url)
        for ref in refs:
            env = os.environ.get(f"PANTAU_SECRET_{ref.upper().replace('-', '_')}")
            if env:
                secrets[ref] = SecretStr(env)
            if ref not in secrets:
                problems.append(
                    lines.problem(
                        ("receivers", i),
                        f"secret {ref!r} is not defined (secrets: or PANTAU_SECRET_{ref.upper().replace('-', '_')})",
                    )
                )
        if os.environ.get("PANTAU_ENV") == "production":
            for ref in refs:
                if ref in secrets and "change-me" in secrets[ref].get_secret_value().lower():
                    problems.append(
                        lines.problem(
                            ("secrets", ref),
                            f"secret {ref!r} is a placeholder; refusing it in "
                            f"production (set PANTAU_SECRET_{ref.upper().replace('-', '_')})",
                        )
                    )
        if r.format == "telegram" and not r.chat_id:
            problems.append(lines.problem(("receivers", i), "a telegram receiver needs chat_id"))
    if problems:
        raise DataFileError(problems)
    return rf.model_copy(update={"secrets": secrets})


def secret(rf: ReceiverFile, name: str) -> str:
    return rf.secrets[name].get_secret_value()


def expand_url(rf: ReceiverFile, url: str) -> str:
    return SECRET_REF.sub(lambda m: secret(rf, m.group(1)), url)


def redact_url(url: str) -> str:
    return SECRET_REF.sub("***", url)


__all__ = ["Receiver", "ReceiverFile", "Route", "load_receivers", "DataFileError", "Problem", "CAUSES", "SEVERITIES"]
