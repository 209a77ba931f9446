"""Pantau's Grafana dashboards as code: one readable module, the standard library only.

    .venv/bin/python dashboards/grafana/build.py          # writes dashboards/grafana/dashboards/*.json
    .venv/bin/python dashboards/grafana/build.py --check  # exit 1 if the committed JSON is not what this builds

Every query is InfluxQL on the measurements Pantau writes (docs/schema.md), against the provisioned
data source ``pantau-influxdb`` (provisioning/datasources/pantau.yaml). Every dashboard starts with a
``city`` variable (the ``city`` tag every measurement carries) and filters every query by it. The
tests run every panel's, annotation's and variable's query against a real InfluxDB filled by a short
simulated run (tests/test_grafana.py) and validate each dashboard against Grafana's published
dashboard JSON schema (schema/).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "dashboards"
SCHEMA_VERSION = 41  # Grafana 12's dashboard JSON model; Grafana migrates older ones on load
DS = {"type": "influxdb", "uid": "pantau-influxdb"}
CITY = '"city" =~ /^$city$/'

# Colours operators read at a glance: the health states of hotspots, switches, services and the grid.
STATE_COLOURS = {
    "up": "green",
    "degraded": "orange",
    "down": "red",
    "unknown": "text",
    "energized": "green",
    "de-energized": "red",
    "true": "green",
    "false": "red",
}


# --- building blocks ---------------------------------------------------------------------------
def target(query: str, ref: str = "A", fmt: str = "time_series", alias: str | None = None) -> dict:
    """One raw InfluxQL query (the data source's query editor in raw mode)."""
    t = {"refId": ref, "datasource": DS, "query": " ".join(query.split()), "rawQuery": True, "resultFormat": fmt}
    if alias:
        t["alias"] = alias
    return t


def variable(name: str, label: str, query: str, multi: bool = False, include_all: bool = False, hide: int = 0) -> dict:
    """A query variable refreshed when the dashboard loads; ``All`` sends every value as a regex
    alternation (no ``allValue``), so the chained ``WHERE tag =~ /^$var$/`` stay exact."""
    q = " ".join(query.split())
    v = {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": DS,
        "query": q,
        "definition": q,
        "refresh": 1,
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "regex": "",
        "hide": hide,
        "options": [],
    }
    if include_all:
        v["current"] = {"selected": True, "text": ["All"], "value": ["$__all"]}
    return v


def city_variable(measurement: str) -> dict:
    return variable("city", "City", f'SHOW TAG VALUES FROM "{measurement}" WITH KEY = "city"')


def thresholds(*steps: tuple[float | None, str]) -> dict:
    return {"mode": "absolute", "steps": [{"color": c, "value": v} for v, c in steps]}


def value_mappings(states: dict[str, str] = STATE_COLOURS) -> list[dict]:
    return [
        {
            "type": "value",
            "options": {k: {"color": c, "index": i, "text": k} for i, (k, c) in enumerate(states.items())},
        }
    ]


def panel(
    kind: str,
    title: str,
    targets: list[dict],
    w: int = 12,
    h: int = 8,
    unit: str | None = None,
    description: str = "",
    steps: tuple = (),
    mappings: list[dict] | None = None,
    options: dict | None = None,
    custom: dict | None = None,
    transformations: list[dict] | None = None,
    interval: str | None = None,
    min_: float | None = None,
    max_: float | None = None,
    decimals: int | None = None,
) -> dict:
    defaults: dict = {}
    if unit:
        defaults["unit"] = unit
    if steps:
        defaults["thresholds"] = thresholds(*steps)
        defaults["color"] = {"mode": "thresholds"}
    if mappings:
        defaults["mappings"] = mappings
        defaults["color"] = {"mode": "thresholds"}
    if min_ is not None:
        defaults["min"] = min_
    if max_ is not None:
        defaults["max"] = max_
    if decimals is not None:
        defaults["decimals"] = decimals
    if custom:
        defaults["custom"] = custom
    p = {
        "type": kind,
        "title": title,
        "datasource": DS,
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options or {},
        "gridPos": {"w": w, "h": h, "x": 0, "y": 0},
    }
    if description:
        p["description"] = description
    if transformations:
        p["transformations"] = transformations
    if interval:
        p["interval"] = interval
    return p


LEGEND = {"displayMode": "table", "placement": "right", "calcs": ["lastNotNull", "max"], "showLegend": True}
TOOLTIP = {"mode": "multi", "sort": "desc"}


def timeseries(title: str, targets: list[dict], unit: str, **kw) -> dict:
    kw.setdefault("options", {"legend": LEGEND, "tooltip": TOOLTIP})
    kw.setdefault("custom", {"drawStyle": "line", "lineWidth": 1, "fillOpacity": 10, "spanNulls": False})
    return panel("timeseries", title, targets, unit=unit, **kw)


def stat(title: str, targets: list[dict], unit: str | None = None, w: int = 6, h: int = 5, **kw) -> dict:
    kw.setdefault(
        "options",
        {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background",
            "graphMode": "none",
            "textMode": "value_and_name",
            "orientation": "auto",
        },
    )
    return panel("stat", title, targets, unit=unit, w=w, h=h, **kw)


def state_timeline(title: str, targets: list[dict], **kw) -> dict:
    kw.setdefault("mappings", value_mappings())
    kw.setdefault(
        "options",
        {
            "showValue": "never",
            "mergeValues": True,
            "rowHeight": 0.8,
            "legend": {"showLegend": True},
            "alignValue": "left",
        },
    )
    kw.setdefault("custom", {"fillOpacity": 80, "lineWidth": 0})
    return panel("state-timeline", title, targets, **kw)


def table(title: str, targets: list[dict], **kw) -> dict:
    kw.setdefault("options", {"showHeader": True, "cellHeight": "sm", "footer": {"show": False}})
    return panel("table", title, targets, **kw)


def row(title: str) -> dict:
    return {
        "type": "row",
        "title": title,
        "collapsed": False,
        "panels": [],
        "gridPos": {"w": 24, "h": 1, "x": 0, "y": 0},
    }


def count_by(group: list[str], counted: str) -> dict:
    """Grafana's "Group by" transformation: one row per value of ``group``, counting ``counted``."""
    fields = {g: {"aggregations": [], "operation": "groupby"} for g in group}
    fields[counted] = {"aggregations": ["count"], "operation": "aggregate"}
    return {"id": "groupBy", "options": {"fields": fields}}


def annotation(name: str, query: str, colour: str, text: str = "text", tags: list[str] | None = None) -> dict:
    """An annotation from an InfluxQL query: each row is a marker at its time; ``text`` names the
    column shown, ``tags`` the columns shown as tags."""
    q = " ".join(query.split())
    mappings = {"text": {"source": "field", "value": text}}
    if tags:
        mappings["tags"] = {"source": "field", "value": tags[0]}
    return {
        "name": name,
        "datasource": DS,
        "enable": True,
        "hide": False,
        "iconColor": colour,
        "target": {"refId": "Anno", "query": q, "rawQuery": True, "resultFormat": "table"},
        "mappings": mappings,
    }


BUILTIN_ANNOTATION = {
    "builtIn": 1,
    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
    "enable": True,
    "hide": True,
    "iconColor": "rgba(0, 211, 255, 1)",
    "name": "Annotations & Alerts",
    "type": "dashboard",
}


def layout(panels: list[dict]) -> list[dict]:
    """Place panels left to right, wrapping at 24 columns; rows start a new line. Ids in order."""
    x = y = line_h = 0
    out = []
    for i, p in enumerate(panels, start=1):
        p = dict(p, id=i)
        w, h = p["gridPos"]["w"], p["gridPos"]["h"]
        if p["type"] == "row" or x + w > 24:
            x, y, line_h = 0, y + line_h, 0
        p["gridPos"] = {"h": h, "w": w, "x": x, "y": y}
        x += w
        line_h = max(line_h, h)
        if p["type"] == "row":
            x, y, line_h = 0, y + h, 0
        out.append(p)
    return out


def dashboard(
    uid: str,
    title: str,
    description: str,
    tags: list[str],
    variables: list[dict],
    panels: list[dict],
    annotations: list[dict] = (),  # type: ignore[assignment]
    time_from: str = "now-6h",
    refresh: str = "30s",
) -> dict:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["pantau", *tags],
        "timezone": "browser",
        "editable": False,
        "graphTooltip": 1,
        "time": {"from": time_from, "to": "now"},
        "timepicker": {"refresh_intervals": ["10s", "30s", "1m", "5m", "15m"]},
        "refresh": refresh,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "monday",
        "links": [
            {
                "title": "Pantau",
                "type": "dashboards",
                "icon": "external link",
                "tooltip": "Pantau's other dashboards",
                "tags": ["pantau"],
                "asDropdown": True,
                "targetBlank": False,
                "includeVars": False,
                "keepTime": True,
            }
        ],
        "annotations": {"list": [BUILTIN_ANNOTATION, *annotations]},
        "templating": {"list": variables},
        "panels": layout(panels),
    }


# --- queries shared by dashboards --------------------------------------------------------------
# The current health state of every hotspot: the last state change ever written (no time filter:
# a hotspot up for a week has no change in the last 6 hours). Tags come with it (GROUP BY).
HOTSPOT_STATES = f"""
SELECT last("value") AS "state", last("lat") AS "lat", last("lon") AS "lon" FROM "hotspot_event"
WHERE "kind" = 'state' AND {CITY} GROUP BY "hotspot", "kecamatan", "kelurahan"
"""
# Every incident's latest change (status, root, affected count), newest state per incident.
INCIDENTS_LATEST = f"""
SELECT last("status") AS "status", last("root") AS "root", last("affected") AS "affected",
last("title") AS "explanation" FROM "incident" WHERE {CITY} AND $timeFilter GROUP BY "incident", "cause"
"""


# --- the dashboards ------------------------------------------------------------------------------
def city_overview() -> dict:
    states = target(HOTSPOT_STATES, fmt="table")
    return dashboard(
        "pantau-city-overview",
        "Pantau — City overview",
        "The city at a glance: hotspots by health state and kecamatan, open incidents by cause, the "
        "hotspot map, the grid and the e-government services.",
        ["overview"],
        [city_variable("hotspot_poll")],
        [
            stat(
                "Hotspots by state",
                [states],
                w=8,
                h=6,
                description="Every hotspot's current health state (Pantau's state machine: up, degraded, down).",
                transformations=[count_by(["state"], "hotspot")],
                mappings=value_mappings(),
                options={
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "/hotspot \\(count\\)/", "values": True},
                    "colorMode": "background",
                    "graphMode": "none",
                    "textMode": "value_and_name",
                    "orientation": "horizontal",
                    "text": {},
                },
                steps=((None, "blue"),),
            ),
            panel(
                "barchart",
                "Hotspots up / degraded / down by kecamatan",
                [states],
                w=16,
                h=6,
                transformations=[
                    count_by(["kecamatan", "state"], "hotspot"),
                    {
                        "id": "groupingToMatrix",
                        "options": {"columnField": "state", "rowField": "kecamatan", "valueField": "hotspot (count)"},
                    },
                ],
                options={
                    "stacking": "normal",
                    "orientation": "auto",
                    "xTickLabelRotation": -45,
                    "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                    "tooltip": {"mode": "multi", "sort": "none"},
                    "showValue": "never",
                },
                custom={"fillOpacity": 90, "lineWidth": 0},
            ),
            panel(
                "geomap",
                "Hotspots by state",
                [states],
                w=14,
                h=14,
                description="Each hotspot at its inventory position, coloured by its current health state.",
                mappings=value_mappings(),
                options={
                    "view": {"id": "fit", "lat": 0, "lon": 0, "zoom": 12, "allLayers": True},
                    "controls": {"showZoom": True, "mouseWheelZoom": True, "showAttribution": True},
                    "basemap": {"type": "default", "name": "Basemap"},
                    "layers": [
                        {
                            "type": "markers",
                            "name": "Hotspots",
                            "location": {"mode": "coords", "latitude": "lat", "longitude": "lon"},
                            "config": {
                                "showLegend": True,
                                "style": {
                                    "color": {"field": "state", "fixed": "green"},
                                    "size": {"fixed": 4, "min": 2, "max": 8},
                                    "opacity": 0.8,
                                    "symbol": {"mode": "fixed", "fixed": "img/icons/marker/circle.svg"},
                                },
                            },
                            "tooltip": True,
                        }
                    ],
                    "tooltip": {"mode": "details"},
                },
            ),
            stat(
                "Open incidents by cause",
                [target(INCIDENTS_LATEST, fmt="table")],
                w=10,
                h=7,
                description="Incidents the explainer has open now, counted by cause (feeder, transformer, "
                "switch, device, maintenance, service…).",
                transformations=[
                    {
                        "id": "filterByValue",
                        "options": {
                            "type": "include",
                            "match": "any",
                            "filters": [
                                {"fieldName": "status", "config": {"id": "equal", "options": {"value": "open"}}}
                            ],
                        },
                    },
                    count_by(["cause"], "incident"),
                ],
                options={
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "/incident \\(count\\)/", "values": True},
                    "colorMode": "background",
                    "graphMode": "none",
                    "textMode": "value_and_name",
                    "orientation": "horizontal",
                    "text": {},
                },
                steps=((None, "red"),),
            ),
            stat(
                "Wifi availability today",
                [
                    target(
                        f"""SELECT last("availability_pct") AS "all causes", last("availability_excl_planned_pct")
                        AS "without planned maintenance" FROM "availability_today" WHERE {CITY} AND "cause" = 'all'
                        AND $timeFilter""",
                    )
                ],
                unit="percent",
                w=8,
                h=7,
                decimals=2,
                description="Share of hotspot-minutes up since 00:00 WIB, with and without the downtime of "
                "announced PLN maintenance (Pantau's availability accounting, as in `pantau report availability`).",
                steps=((None, "red"), (95, "orange"), (99, "green")),
            ),
            panel(
                "bargauge",
                "Downtime today by cause",
                [
                    target(
                        f"""SELECT last("down_minutes") FROM "availability_today" WHERE {CITY} AND "cause" != 'all'
                        AND $timeFilter GROUP BY "cause" """,
                        alias="$tag_cause",
                    )
                ],
                unit="m",
                w=16,
                h=7,
                min_=0,
                description="Hotspot-minutes of downtime since 00:00 WIB, each attributed to the cause of the "
                "incident that explains it (power_grid, planned_maintenance, network_uplink, device; unknown "
                "when none does).",
                options={
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "orientation": "horizontal",
                    "displayMode": "basic",
                    "showUnfilled": True,
                    "valueMode": "color",
                    "namePlacement": "left",
                    "minVizWidth": 8,
                    "minVizHeight": 16,
                    "maxVizHeight": 300,
                    "sizing": "auto",
                },
                steps=((None, "red"),),
            ),
            table(
                "Incidents in the time range",
                [target(INCIDENTS_LATEST, fmt="table")],
                w=10,
                h=7,
                description="The latest state of every incident that changed in the time range.",
                mappings=value_mappings({"open": "red", "closed": "green", "merged": "text"}),
            ),
            state_timeline(
                "Feeders energized",
                [
                    target(
                        f"""SELECT last("new") AS "state" FROM "grid_event" WHERE "kind" = 'feeder' AND {CITY}
                        AND $timeFilter GROUP BY time($__interval), "element" fill(previous)""",
                        alias="$tag_element",
                    )
                ],
                w=12,
                h=8,
                description="Changes of each feeder's state in the time range (energized, de-energized, unknown "
                "when its telemetry is lost).",
            ),
            stat(
                "E-government services",
                [
                    target(
                        f"""SELECT last("up") FROM "egov_probe" WHERE {CITY} AND $timeFilter GROUP BY "service" """,
                        alias="$tag_service",
                    )
                ],
                w=12,
                h=8,
                mappings=[
                    {
                        "type": "value",
                        "options": {"1": {"color": "green", "text": "up"}, "0": {"color": "red", "text": "down"}},
                    }
                ],
                steps=((None, "red"), (1, "green")),
            ),
        ],
        time_from="now-24h",
    )


def hotspot() -> dict:
    sel = f'{CITY} AND "hotspot" =~ /^$hotspot$/'
    return dashboard(
        "pantau-hotspot",
        "Pantau — Hotspot",
        "One hotspot: clients, traffic, radios (channel utilisation, noise), CPU and memory, poll "
        "round-trip time, its health state over time; incidents that affected it as annotations.",
        ["hotspot", "snmp"],
        [
            city_variable("hotspot_poll"),
            variable(
                "kecamatan",
                "Kecamatan",
                'SHOW TAG VALUES FROM "hotspot_poll" WITH KEY = "kecamatan" WHERE "city" =~ /^$city$/',
                multi=True,
                include_all=True,
            ),
            variable(
                "kelurahan",
                "Kelurahan",
                'SHOW TAG VALUES FROM "hotspot_poll" WITH KEY = "kelurahan" '
                'WHERE "city" =~ /^$city$/ AND "kecamatan" =~ /^$kecamatan$/',
                multi=True,
                include_all=True,
            ),
            variable(
                "hotspot",
                "Hotspot",
                'SHOW TAG VALUES FROM "hotspot_poll" WITH KEY = "hotspot" '
                'WHERE "city" =~ /^$city$/ AND "kecamatan" =~ /^$kecamatan$/ AND "kelurahan" =~ /^$kelurahan$/',
            ),
        ],
        [
            stat(
                "Health state",
                [
                    target(
                        f"""SELECT last("value") AS "state" FROM "hotspot_event" WHERE "kind" = 'state' AND {sel}""",
                        fmt="table",
                    )
                ],
                mappings=value_mappings(),
                options={
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "/^state$/", "values": False},
                    "colorMode": "background",
                    "graphMode": "none",
                    "textMode": "value",
                    "orientation": "auto",
                },
            ),
            stat(
                "Clients now",
                [target(f'SELECT last("clients") FROM "hotspot_poll" WHERE {sel} AND $timeFilter', alias="clients")],
                unit="none",
                steps=((None, "blue"),),
            ),
            stat(
                "Round-trip time",
                [target(f'SELECT last("latency_ms") FROM "hotspot_poll" WHERE {sel} AND $timeFilter', alias="RTT")],
                unit="ms",
                steps=((None, "green"), (200, "orange"), (500, "red")),
            ),
            stat(
                "Uptime",
                [
                    target(
                        f'SELECT last("sys_uptime_s") FROM "hotspot_poll" WHERE {sel} AND $timeFilter', alias="uptime"
                    )
                ],
                unit="s",
                steps=((None, "orange"), (3600, "green")),
                description="Time since the device last booted (sysUpTime); a drop is a reboot.",
            ),
            state_timeline(
                "State",
                [
                    target(
                        f"""SELECT last("value") AS "health" FROM "hotspot_event" WHERE "kind" = 'state' AND {sel}
                        AND $timeFilter GROUP BY time($__interval) fill(previous)""",
                        alias="health",
                    ),
                    target(
                        f"""SELECT last("up") AS "answered" FROM "hotspot_poll" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval) fill(null)""",
                        ref="B",
                        alias="answers polls",
                    ),
                ],
                w=24,
                h=5,
                description="Health state changes (up, degraded, down) and whether each poll was answered.",
            ),
            timeseries(
                "Clients per radio",
                [
                    target(
                        f"""SELECT mean("clients") FROM "hotspot_radio" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "radio" fill(null)""",
                        alias="$tag_radio",
                    ),
                    target(
                        f"""SELECT mean("clients") FROM "hotspot_poll" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval) fill(null)""",
                        ref="B",
                        alias="total",
                    ),
                ],
                "none",
                min_=0,
            ),
            timeseries(
                "Traffic per interface",
                [
                    target(
                        f"""SELECT mean("in_bps") FROM "hotspot_if" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "ifname" fill(null)""",
                        alias="$tag_ifname in",
                    ),
                    target(
                        f"""SELECT mean("out_bps") FROM "hotspot_if" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "ifname" fill(null)""",
                        ref="B",
                        alias="$tag_ifname out",
                    ),
                ],
                "bps",
                min_=0,
            ),
            timeseries(
                "Channel utilisation per radio",
                [
                    target(
                        f"""SELECT mean("channel_util_pct") FROM "hotspot_radio" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "radio" fill(null)""",
                        alias="$tag_radio",
                    ),
                    target(
                        f"""SELECT mean("channel_util_rx_pct") FROM "hotspot_radio" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "radio" fill(null)""",
                        ref="B",
                        alias="$tag_radio rx",
                    ),
                    target(
                        f"""SELECT mean("channel_util_tx_pct") FROM "hotspot_radio" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "radio" fill(null)""",
                        ref="C",
                        alias="$tag_radio tx",
                    ),
                ],
                "percent",
                min_=0,
                max_=100,
                steps=((None, "green"), (60, "orange"), (80, "red")),
                description="Airtime busy per radio (UniFi reports receive and transmit separately). "
                "Above 60 % clients feel it; above 80 % the channel is saturated.",
            ),
            timeseries(
                "Noise floor per radio",
                [
                    target(
                        f"""SELECT mean("noise_dbm") FROM "hotspot_radio" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "radio" fill(null)""",
                        alias="$tag_radio",
                    )
                ],
                "dBm",
                steps=((None, "green"), (-85, "orange"), (-75, "red")),
                description="Noise floor; above −85 dBm interference starts to cost throughput.",
            ),
            timeseries(
                "CPU and memory",
                [
                    target(
                        f"""SELECT mean("cpu_pct") FROM "hotspot_poll" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval) fill(null)""",
                        alias="CPU",
                    ),
                    target(
                        f"""SELECT mean("mem_pct") FROM "hotspot_poll" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval) fill(null)""",
                        ref="B",
                        alias="memory",
                    ),
                ],
                "percent",
                min_=0,
                max_=100,
                steps=((None, "green"), (80, "orange"), (95, "red")),
            ),
            timeseries(
                "Poll round-trip time",
                [
                    target(
                        f"""SELECT mean("latency_ms") AS "mean", max("latency_ms") AS "max" FROM "hotspot_poll"
                        WHERE {sel} AND $timeFilter GROUP BY time($__interval) fill(null)""",
                    )
                ],
                "ms",
                min_=0,
                steps=((None, "green"), (200, "orange"), (500, "red")),
            ),
            table(
                "State changes, reboots and traps",
                [
                    target(
                        f"""SELECT "kind", "value", "previous", "source", "detail" FROM "hotspot_event"
                        WHERE {sel} AND $timeFilter ORDER BY time DESC LIMIT 100""",
                        fmt="table",
                    )
                ],
                w=24,
                h=7,
            ),
        ],
        annotations=[
            annotation(
                "Incidents",
                f"""SELECT first("title") AS "text" FROM "incident" WHERE {CITY}
                AND "hotspots" =~ /(^|,)$hotspot(,|$)/ AND $timeFilter GROUP BY "incident", "cause" """,
                "red",
                tags=["cause"],
            ),
            annotation(
                "State changes",
                f"""SELECT "value" AS "text", "previous" FROM "hotspot_event" WHERE "kind" = 'state' AND {sel}
                AND $timeFilter""",
                "orange",
            ),
        ],
    )


def switches() -> dict:
    sel = f'{CITY} AND "role" =~ /^$role$/ AND "switch" =~ /^$switch$/'
    return dashboard(
        "pantau-switches",
        "Pantau — Switches and uplinks",
        "The city's core, aggregation and access switches: reachability, round-trip time, uplink "
        "traffic, interface state and errors, and their events.",
        ["network", "snmp"],
        [
            city_variable("switch_poll"),
            variable(
                "role",
                "Role",
                'SHOW TAG VALUES FROM "switch_poll" WITH KEY = "role" WHERE "city" =~ /^$city$/',
                multi=True,
                include_all=True,
            ),
            variable(
                "switch",
                "Switch",
                'SHOW TAG VALUES FROM "switch_poll" WITH KEY = "switch" WHERE "city" =~ /^$city$/ AND "role" =~ /^$role$/',
                multi=True,
                include_all=True,
            ),
        ],
        [
            state_timeline(
                "Answers polls",
                [
                    target(
                        f"""SELECT last("up") FROM "switch_poll" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "switch" fill(null)""",
                        alias="$tag_switch",
                    )
                ],
                w=24,
                h=9,
            ),
            timeseries(
                "Poll round-trip time",
                [
                    target(
                        f"""SELECT mean("latency_ms") FROM "switch_poll" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "switch" fill(null)""",
                        alias="$tag_switch",
                    )
                ],
                "ms",
                min_=0,
                steps=((None, "green"), (100, "orange"), (300, "red")),
            ),
            timeseries(
                "Traffic in per interface",
                [
                    target(
                        f"""SELECT mean("in_bps") FROM "switch_if" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "switch", "ifname" fill(null)""",
                        alias="$tag_switch $tag_ifname",
                    )
                ],
                "bps",
                min_=0,
            ),
            timeseries(
                "Traffic out per interface",
                [
                    target(
                        f"""SELECT mean("out_bps") FROM "switch_if" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "switch", "ifname" fill(null)""",
                        alias="$tag_switch $tag_ifname",
                    )
                ],
                "bps",
                min_=0,
            ),
            timeseries(
                "Interface errors",
                [
                    target(
                        f"""SELECT mean("in_errors_per_s") FROM "switch_if" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "switch", "ifname" fill(null)""",
                        alias="$tag_switch $tag_ifname",
                    )
                ],
                "short",
                min_=0,
                steps=((None, "green"), (1, "orange"), (10, "red")),
                description="Input errors per second (CRC, runts…) — a bad cable or optic shows here first.",
            ),
            table(
                "Interfaces down",
                [
                    target(
                        f"""SELECT last("oper_up") AS "oper_up", last("speed_bps") AS "speed_bps" FROM "switch_if"
                        WHERE {sel} AND $timeFilter GROUP BY "switch", "ifname" """,
                        fmt="table",
                    )
                ],
                transformations=[
                    {
                        "id": "filterByValue",
                        "options": {
                            "type": "include",
                            "match": "any",
                            "filters": [
                                {"fieldName": "oper_up", "config": {"id": "equal", "options": {"value": False}}}
                            ],
                        },
                    }
                ],
                description="Each interface's last operational state; only those down are shown.",
            ),
            table(
                "Switch events",
                [
                    target(
                        f"""SELECT "switch", "kind", "value", "previous", "source", "detail" FROM "network_event"
                        WHERE {CITY} AND $timeFilter ORDER BY time DESC LIMIT 100""",
                        fmt="table",
                    )
                ],
            ),
        ],
    )


def grid() -> dict:
    tel = f'{CITY} AND "substation" =~ /^$substation$/'
    return dashboard(
        "pantau-grid",
        "Pantau — Grid",
        "The power grid as PLN's telemetry shows it: feeder and transformer voltage, current and "
        "frequency, breakers, energized state, maintenance notices and gateways.",
        ["grid", "mqtt"],
        [
            city_variable("grid_telemetry"),
            variable(
                "substation",
                "Substation",
                'SHOW TAG VALUES FROM "grid_telemetry" WITH KEY = "substation" WHERE "city" =~ /^$city$/',
                multi=True,
                include_all=True,
            ),
            variable(
                "feeder",
                "Feeder",
                'SHOW TAG VALUES FROM "grid_telemetry" WITH KEY = "id" WHERE "kind" = \'feeder\' '
                'AND "city" =~ /^$city$/ AND "substation" =~ /^$substation$/',
                multi=True,
                include_all=True,
            ),
        ],
        [
            state_timeline(
                "Feeders energized",
                [
                    target(
                        f"""SELECT last("new") FROM "grid_event" WHERE "kind" = 'feeder' AND {tel}
                        AND "feeder" =~ /^$feeder$/ AND $timeFilter GROUP BY time($__interval), "element" fill(previous)""",
                        alias="$tag_element",
                    )
                ],
                w=24,
                h=8,
                description="Energized / de-energized / unknown (telemetry lost) per feeder, from Pantau's grid state.",
            ),
            timeseries(
                "Feeder voltage",
                [
                    target(
                        f"""SELECT mean("voltage_v") FROM "grid_telemetry" WHERE "kind" = 'feeder' AND {tel}
                        AND "id" =~ /^$feeder$/ AND $timeFilter GROUP BY time($__interval), "id" fill(null)""",
                        alias="$tag_id",
                    )
                ],
                "volt",
                description="Medium-voltage feeders (20 kV nominal): 0 V is a feeder out.",
            ),
            timeseries(
                "Feeder current",
                [
                    target(
                        f"""SELECT mean("current_a") FROM "grid_telemetry" WHERE "kind" = 'feeder' AND {tel}
                        AND "id" =~ /^$feeder$/ AND $timeFilter GROUP BY time($__interval), "id" fill(null)""",
                        alias="$tag_id",
                    )
                ],
                "amp",
                min_=0,
            ),
            timeseries(
                "Frequency",
                [
                    target(
                        f"""SELECT mean("frequency_hz") FROM "grid_telemetry" WHERE "kind" = 'feeder' AND {tel}
                        AND "id" =~ /^$feeder$/ AND $timeFilter GROUP BY time($__interval), "id" fill(null)""",
                        alias="$tag_id",
                    )
                ],
                "hertz",
                decimals=2,
                steps=((None, "red"), (49.5, "green"), (50.5, "red")),
                description="Nominal 50 Hz; PLN's band is 49.5–50.5 Hz.",
            ),
            state_timeline(
                "Feeder breakers",
                [
                    target(
                        f"""SELECT last("breaker_closed") FROM "grid_telemetry" WHERE "kind" = 'feeder' AND {tel}
                        AND "id" =~ /^$feeder$/ AND $timeFilter GROUP BY time($__interval), "id" fill(previous)""",
                        alias="$tag_id",
                    )
                ],
                mappings=value_mappings({"true": "green", "false": "red"}),
                description="Breaker closed (green) or open (red) as the feeder reports it.",
            ),
            timeseries(
                "Transformer voltage",
                [
                    target(
                        f"""SELECT mean("voltage_v") FROM "grid_telemetry" WHERE "kind" = 'transformer' AND {tel}
                        AND "feeder" =~ /^$feeder$/ AND $timeFilter GROUP BY time($__interval), "id" fill(null)""",
                        alias="$tag_id",
                    )
                ],
                "volt",
                options={"legend": {**LEGEND, "placement": "bottom"}, "tooltip": TOOLTIP},
                description="Low-voltage side (230 V nominal) of each transformer on the chosen feeders.",
            ),
            timeseries(
                "Transformer current",
                [
                    target(
                        f"""SELECT mean("current_a") FROM "grid_telemetry" WHERE "kind" = 'transformer' AND {tel}
                        AND "feeder" =~ /^$feeder$/ AND $timeFilter GROUP BY time($__interval), "id" fill(null)""",
                        alias="$tag_id",
                    )
                ],
                "amp",
                min_=0,
                options={"legend": {**LEGEND, "placement": "bottom"}, "tooltip": TOOLTIP},
            ),
            state_timeline(
                "Transformers energized",
                [
                    target(
                        f"""SELECT last("new") FROM "grid_event" WHERE "kind" = 'transformer' AND {tel}
                        AND "feeder" =~ /^$feeder$/ AND $timeFilter GROUP BY time($__interval), "element" fill(previous)""",
                        alias="$tag_element",
                    )
                ],
                w=24,
                h=10,
            ),
            table(
                "Grid events",
                [
                    target(
                        f"""SELECT "element", "old", "new", "source", "reason" FROM "grid_event" WHERE {tel}
                        AND $timeFilter ORDER BY time DESC LIMIT 200""",
                        fmt="table",
                    )
                ],
                w=24,
            ),
            table(
                "Maintenance notices",
                [
                    target(
                        f"""SELECT "element", "id", "start_s", "end_s", "reason", "issuer" FROM "grid_maintenance"
                        WHERE {CITY} AND $timeFilter ORDER BY time DESC LIMIT 100""",
                        fmt="table",
                    )
                ],
                description="PLN's announced maintenance (start/end in epoch seconds, as sent).",
            ),
            state_timeline(
                "Gateways online",
                [
                    target(
                        f"""SELECT last("online") FROM "grid_gateway" WHERE {CITY} AND $timeFilter
                        GROUP BY time($__interval), "gateway" fill(previous)""",
                        alias="$tag_gateway",
                    )
                ],
                mappings=value_mappings({"true": "green", "false": "red"}),
            ),
        ],
    )


def egov() -> dict:
    sel = f'{CITY} AND "service" =~ /^$service$/'

    def uptime(window: str) -> dict:
        label = {"24h": "24 h", "7d": "7 d", "30d": "30 d"}[window]
        return target(
            f"""SELECT mean("up") * 100 AS "{label}" FROM "egov_probe" WHERE {sel} AND time > now() - {window}
            GROUP BY "service" """,
            ref={"24h": "A", "7d": "B", "30d": "C"}[window],
            fmt="table",
        )

    return dashboard(
        "pantau-egov",
        "Pantau — E-government services",
        "The city's online services as Pantau's probes see them: up or down, latency, HTTP status, "
        "TLS certificate days left, uptime over 24 hours, 7 days and 30 days.",
        ["egov", "http"],
        [
            city_variable("egov_probe"),
            variable(
                "service",
                "Service",
                'SHOW TAG VALUES FROM "egov_probe" WITH KEY = "service" WHERE "city" =~ /^$city$/',
                multi=True,
                include_all=True,
            ),
        ],
        [
            state_timeline(
                "Status",
                [
                    target(
                        f"""SELECT last("up") FROM "egov_probe" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "service" fill(null)""",
                        alias="$tag_service",
                    )
                ],
                w=24,
                h=8,
                mappings=[
                    {
                        "type": "value",
                        "options": {"1": {"color": "green", "text": "up"}, "0": {"color": "red", "text": "down"}},
                    }
                ],
            ),
            timeseries(
                "Latency",
                [
                    target(
                        f"""SELECT mean("latency_ms") FROM "egov_probe" WHERE {sel} AND $timeFilter
                        GROUP BY time($__interval), "service" fill(null)""",
                        alias="$tag_service",
                    )
                ],
                "ms",
                min_=0,
                steps=((None, "green"), (1000, "orange"), (3000, "red")),
            ),
            table(
                "Uptime",
                [uptime("24h"), uptime("7d"), uptime("30d")],
                description="Share of probes answered correctly (status, content checks) over each window, "
                "whatever the dashboard's time range.",
                unit="percent",
                decimals=2,
                steps=((None, "red"), (99, "orange"), (99.9, "green")),
                transformations=[
                    {"id": "joinByField", "options": {"byField": "service", "mode": "outer"}},
                    {
                        "id": "organize",
                        "options": {
                            "excludeByName": {"Time": True, "Time 1": True, "Time 2": True, "Time 3": True},
                        },
                    },
                ],
                custom={"cellOptions": {"type": "color-text"}},
            ),
            table(
                "TLS certificate days left and HTTP status",
                [
                    target(
                        f"""SELECT last("cert_days_left") AS "TLS days left", last("status_code") AS "HTTP status"
                        FROM "egov_probe" WHERE {sel} AND $timeFilter GROUP BY "service" """,
                        fmt="table",
                    )
                ],
                decimals=0,
                steps=((None, "red"), (14, "orange"), (30, "green")),
                custom={"cellOptions": {"type": "color-text"}},
                description="Days until each service's certificate expires (red under 14, orange under 30).",
            ),
            table(
                "State changes",
                [
                    target(
                        f"""SELECT "service", "old", "new", "reason" FROM "egov_event" WHERE {sel} AND $timeFilter
                        ORDER BY time DESC LIMIT 100""",
                        fmt="table",
                    )
                ],
                w=24,
            ),
        ],
        time_from="now-24h",
    )


def pantau_itself() -> dict:
    return dashboard(
        "pantau-self",
        "Pantau — Pantau itself",
        "Is the monitor healthy? SNMP cycle time and poll outcomes, grid ingest lag and spool, dead "
        "letters by reason, alert webhooks and their failures.",
        ["self"],
        [city_variable("pantau_self")],
        [
            timeseries(
                "SNMP cycle time",
                [
                    target(
                        f"""SELECT max("cycle_s") FROM "pantau_self" WHERE "component" = 'snmp' AND {CITY}
                        AND $timeFilter GROUP BY time($__interval), "target" fill(null)""",
                        alias="$tag_target",
                    )
                ],
                "s",
                min_=0,
                description="Seconds to poll every target once (hotspots, switches, controllers); it must "
                "stay well under the poll interval.",
            ),
            timeseries(
                "SNMP poll outcomes per cycle",
                [
                    target(
                        f"""SELECT last("ok") AS "ok", last("failed") AS "failed", last("timeouts") AS "timeouts"
                        FROM "pantau_self" WHERE "component" = 'snmp' AND "target" = 'hotspots' AND {CITY}
                        AND $timeFilter GROUP BY time($__interval) fill(null)""",
                    )
                ],
                "none",
                min_=0,
            ),
            timeseries(
                "Grid ingest lag",
                [
                    target(
                        f"""SELECT max("lag_s") FROM "pantau_self" WHERE "component" = 'grid' AND {CITY}
                        AND $timeFilter GROUP BY time($__interval), "process" fill(null)""",
                        alias="$tag_process",
                    )
                ],
                "s",
                min_=0,
                steps=((None, "green"), (5, "orange"), (30, "red")),
                description="Age of the newest reading when it was accepted (reading time to spool).",
            ),
            timeseries(
                "Grid messages",
                [
                    target(
                        f"""SELECT non_negative_derivative(last("accepted"), 1s) AS "accepted",
                        non_negative_derivative(last("dead"), 1s) AS "dead" FROM "pantau_self"
                        WHERE "component" = 'grid' AND {CITY} AND $timeFilter GROUP BY time($__interval) fill(null)""",
                    )
                ],
                "reqps",
                min_=0,
            ),
            timeseries(
                "Spool backlog",
                [
                    target(
                        f"""SELECT max("spool_backlog_bytes") FROM "pantau_self" WHERE "component" = 'grid'
                        AND {CITY} AND $timeFilter GROUP BY time($__interval), "process" fill(null)""",
                        alias="$tag_process",
                    )
                ],
                "bytes",
                min_=0,
                description="Readings acknowledged to the broker but not yet written to InfluxDB.",
            ),
            timeseries(
                "Dead letters by reason",
                [
                    target(
                        f"""SELECT non_negative_difference(max("count")) FROM "grid_deadletters" WHERE {CITY}
                        AND $timeFilter GROUP BY time($__interval), "reason" fill(null)""",
                        alias="$tag_reason",
                    )
                ],
                "none",
                min_=0,
                custom={"drawStyle": "bars", "fillOpacity": 80, "lineWidth": 1, "stacking": {"mode": "normal"}},
                description="Grid messages refused per interval, by reason (`pantau grid deadletters` shows them).",
            ),
            timeseries(
                "Alert webhooks",
                [
                    target(
                        f"""SELECT non_negative_difference(max("sent")) AS "sent" FROM "pantau_self"
                        WHERE "component" = 'alerts' AND {CITY} AND $timeFilter GROUP BY time($__interval) fill(null)""",
                    ),
                    target(
                        f"""SELECT non_negative_difference(max("failures")) FROM "pantau_self"
                        WHERE "component" = 'alerts' AND {CITY} AND $timeFilter
                        GROUP BY time($__interval), "receiver" fill(null)""",
                        ref="B",
                        alias="failed $tag_receiver",
                    ),
                ],
                "none",
                min_=0,
                custom={"drawStyle": "bars", "fillOpacity": 80, "lineWidth": 1},
                description="Webhooks delivered, and failed delivery attempts per receiver (retried with backoff).",
            ),
            timeseries(
                "Alert outbox",
                [
                    target(
                        f"""SELECT last("outbox_pending") FROM "pantau_self" WHERE "component" = 'alerts' AND {CITY}
                        AND $timeFilter GROUP BY time($__interval), "receiver" fill(previous)""",
                        alias="$tag_receiver",
                    )
                ],
                "none",
                min_=0,
                steps=((None, "green"), (1, "orange"), (20, "red")),
                description="Notifications written but not yet delivered, per receiver.",
            ),
        ],
        time_from="now-3h",
    )


DASHBOARDS = {
    "city-overview": city_overview,
    "hotspot": hotspot,
    "switches": switches,
    "grid": grid,
    "egov": egov,
    "pantau-itself": pantau_itself,
}


def build() -> dict[str, str]:
    """File name → JSON text of every dashboard."""
    return {f"{name}.json": json.dumps(fn(), indent=2, ensure_ascii=False) + "\n" for name, fn in DASHBOARDS.items()}


def main(argv: list[str]) -> int:
    files = build()
    if "--check" in argv:
        stale = [n for n, text in files.items() if not (OUT / n).exists() or (OUT / n).read_text() != text]
        extra = sorted(p.name for p in OUT.glob("*.json") if p.name not in files)
        for n in stale + extra:
            print(f"dashboards/grafana/dashboards/{n} is not what build.py makes: run build.py", file=sys.stderr)
        return 1 if stale or extra else 0
    OUT.mkdir(exist_ok=True)
    for n, text in files.items():
        (OUT / n).write_text(text)
    print(f"wrote {len(files)} dashboards to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
