"""The domain modules run compiled (mypyc, ``lingxi.native``) and compute exactly what plain Python does."""

from __future__ import annotations

import importlib.machinery
import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import lingxi_maintenance.state
from lingxi import native

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# Ingests a simulated fleet (every fault, late, duplicate and clock-skewed readings) one read of 500
# deliveries at a time, and prints a digest of everything the domain produced.
REPLAY = """
import hashlib, json
from lingxi import native
from lingxi.devices import known_models
from lingxi_maintenance.fleet import Fleet, FleetConfig
from lingxi_maintenance.heat import LearningFleet
from lingxi_maintenance.ingest import Incoming, ingest
from lingxi_maintenance.state import DeviceState

states, fleet, digest, alerts, read = {}, LearningFleet(), hashlib.sha256(), 0, []

def assess(read):
    global alerts
    incoming = [Incoming(d.reading, d.reported_at, i) for i, d in enumerate(read)]
    outcome = ingest(incoming, states, fleet, known_models())
    for device_id in sorted(outcome.states):
        states[device_id] = DeviceState.from_bytes(outcome.states[device_id].to_bytes())
        digest.update(device_id.encode() + states[device_id].to_bytes())
        digest.update(repr(outcome.records[device_id]).encode())
    for c in outcome.changes:
        digest.update(repr((c.origin, c.change.device_id, c.change.condition, c.change.evidence)).encode())
        alerts += 1
    for r in outcome.refused:
        digest.update(repr(r).encode())

for delivery in Fleet(FleetConfig(devices=120, days=24, seed=11)).deliveries():
    read.append(delivery)
    if len(read) == 500:
        assess(read)
        read = []
assess(read)
digest.update(json.dumps(fleet.to_dict(), sort_keys=True).encode())
status = native.status("lingxi_maintenance")
print(json.dumps({"compiled": list(status.compiled), "devices": len(states), "alerts": alerts,
                  "digest": digest.hexdigest()}))
"""


def _declared() -> list[str]:
    return sorted(tomllib.loads(PYPROJECT.read_text())["tool"]["lingxi"]["native"]["modules"])


def _replay(native_switch: str) -> dict[str, object]:
    env = {**os.environ, native.NATIVE_ENV: native_switch}
    done = subprocess.run(
        [sys.executable, "-c", REPLAY], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_this_install_runs_the_domain_modules_compiled() -> None:
    status = native.status("lingxi_maintenance")
    assert status is not None
    assert status.compiled == tuple(_declared()), f"plain Python: {status.reason}"
    suffix = Path(lingxi_maintenance.state.__file__ or "").name.partition(".")[2]
    assert "." + suffix in importlib.machinery.EXTENSION_SUFFIXES


def test_compiled_and_plain_python_assess_a_fleet_alike() -> None:
    compiled, plain = _replay("on"), _replay("off")
    assert compiled["compiled"] == _declared()
    assert plain["compiled"] == []
    assert compiled["devices"] == plain["devices"] == 120
    assert isinstance(plain["alerts"], int)
    assert plain["alerts"] > 0
    assert compiled["alerts"] == plain["alerts"]
    assert compiled["digest"] == plain["digest"]
