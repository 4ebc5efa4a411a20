"""A pytest plugin for gpu_check.py: every test's outcome, and whether it is marked `cuda`, as JSON.

    DCGAN_SUITE_OUTCOMES=out.json python -m pytest -p suite_outcomes     (benchmarks/ on PYTHONPATH)

A suite whose GPU tests all skipped (no data, no GPU seen) still "passes"; gpu_check reads this file to
tell a suite that ran on the GPU from one that skipped its way through.
"""

from __future__ import annotations

import json
import os

_outcomes: dict[str, dict] = {}


def pytest_runtest_logreport(report):
    entry = _outcomes.setdefault(report.nodeid, {"outcome": "passed", "cuda": "cuda" in report.keywords})
    if report.failed:
        entry["outcome"] = "failed"
    elif report.skipped and entry["outcome"] != "failed":
        entry["outcome"] = "skipped"
        entry["why"] = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("DCGAN_SUITE_OUTCOMES")
    if path:
        with open(path, "w") as f:
            json.dump(_outcomes, f, indent=1)
