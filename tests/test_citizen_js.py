"""The citizens' page's words for the city (dashboards/static/citizen/i18n.js, ``cityLine``) are the
server's (api/public.py, ``city_line``): the page is first painted with the server's line and then
kept current by its script, so the two must not differ. Run by Node.js when it is installed (the
browser test checks the same on the live page)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from api.public import city_line

pytestmark = pytest.mark.unit

MODULES = Path(__file__).resolve().parent.parent / "dashboards" / "static" / "citizen"
CASES = [
    {"outage": 0, "maintenance": 0, "normal": 177},
    {"outage": 12, "maintenance": 0, "normal": 165},
    {"outage": 0, "maintenance": 3, "normal": 174},
    {"outage": 1, "maintenance": 2, "normal": 174},
]


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_script_and_server_write_the_same_city_line(tmp_path):
    # the modules as .mjs, so Node reads them as ES modules without a package.json
    for f in MODULES.glob("*.js"):
        (tmp_path / (f.stem + ".mjs")).write_text(re.sub(r'from "\./(\w+)\.js"', r'from "./\1.mjs"', f.read_text()))
    docs = [
        {
            "city": "Kota Semarang",
            "updated_at": "2026-12-07T08:03:10+07:00",
            "hotspots": {"total": 2300, "up": 2300 - 150 * i, "down": 150 * i},
            "kelurahan_by_status": by,
        }
        for i, by in enumerate(CASES)
    ]
    (tmp_path / "run.mjs").write_text(
        'import { cityLine } from "./i18n.mjs";\n'
        f"for (const d of {json.dumps(docs)}) console.log(JSON.stringify(cityLine(d)));\n"
    )
    out = subprocess.run(["node", str(tmp_path / "run.mjs")], capture_output=True, text=True, check=True, timeout=30)
    got = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(g["head"], g["detail"]) for g in got] == [city_line(d) for d in docs]
