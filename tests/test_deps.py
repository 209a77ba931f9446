"""The dependencies are what they say: pyproject.toml's ranges, requirements.lock and the venv agree,
and paho-mqtt is a version collectors/grid/mqtt.py's FastClient/FastProperties patches were checked on."""

from __future__ import annotations

import tomllib
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"


def _declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"]["dev"]]
    return [r for r in reqs if r.marker is None or r.marker.evaluate({"extra": "dev"})]


def _locked() -> dict[str, Version]:
    pins: dict[str, Version] = {}
    for line in LOCK.read_text().splitlines():
        if not line or line[0] in " #-\t":
            continue  # hash continuation lines, "# via" comments, pip options
        req = Requirement(line.split(";")[0].rstrip(" \\"))
        (spec,) = req.specifier
        assert spec.operator == "==", f"requirements.lock: {line!r} is not an exact pin"
        pins[canonicalize_name(req.name)] = Version(spec.version)
    return pins


def test_lock_is_hashed_and_pinned():
    text = LOCK.read_text()
    pins = _locked()
    assert pins, "requirements.lock pins nothing"
    blocks = [b for b in text.split("\n") if b and b[0] not in " #-\t"]
    assert len(blocks) == len(pins)
    assert text.count("--hash=sha256:") >= len(pins), "every pin needs a sha256 hash (--require-hashes)"


def test_every_declared_requirement_is_pinned_within_its_range():
    pins = _locked()
    wrong = []
    for req in _declared():
        pinned = pins.get(canonicalize_name(req.name))
        if pinned is None:
            wrong.append(f"{req} is not in requirements.lock")
        elif not req.specifier.contains(pinned, prereleases=True):
            wrong.append(f"{req} is not satisfied by the locked {req.name}=={pinned}")
    assert not wrong, "requirements.lock is stale; run `make lock`:\n" + "\n".join(wrong)


def test_venv_matches_lock():
    wrong = []
    for name, pinned in sorted(_locked().items()):
        try:
            installed = Version(version(name))
        except PackageNotFoundError:
            wrong.append(f"{name}=={pinned} is not installed")
            continue
        if installed != pinned:
            wrong.append(f"{name}: installed {installed}, locked {pinned}")
    assert not wrong, "the venv differs from requirements.lock; run scripts/bootstrap.sh:\n" + "\n".join(wrong)


def test_paho_is_a_version_the_fast_patches_know():
    from collectors.grid import mqtt

    installed = Version(version("paho-mqtt"))
    minor = f"{installed.major}.{installed.minor}"
    assert minor in mqtt.CHECKED_PAHO, (
        f"paho-mqtt {installed} is not one FastClient/FastProperties were checked against "
        f"{mqtt.CHECKED_PAHO}: re-check the patches (bench/mqtt_ingest.py, tests/test_grid_units.py), "
        "then extend CHECKED_PAHO and the paho-mqtt range in pyproject.toml"
    )
    assert mqtt.paho_checked()


def test_declared_paho_range_admits_only_checked_minors():
    from collectors.grid import mqtt

    (paho,) = [r for r in _declared() if canonicalize_name(r.name) == "paho-mqtt"]
    checked = [Version(m) for m in mqtt.CHECKED_PAHO]
    for v in checked:
        assert paho.specifier.contains(v), f"{paho} excludes checked paho {v}"
    lo, hi = min(checked), max(checked)
    outside = [
        Version(f"{lo.major}.{lo.minor - 1}.99") if lo.minor else Version(f"{lo.major - 1}.99"),
        Version(f"{hi.major}.{hi.minor + 1}.0"),
        Version(f"{hi.major + 1}.0.0"),
    ]
    admitted = [str(v) for v in outside if paho.specifier.contains(v)]
    assert not admitted, f"pyproject.toml's {paho} admits unchecked paho versions {admitted}"
