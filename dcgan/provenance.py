"""Where a result came from: the package and torch versions, the commit of a checkout, the GPU."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import torch


__version__ = "0.1.0"  # the one place the version is written (pyproject.toml reads it)


def provenance(device: str | torch.device | None = None) -> dict:
    """What config.json, metrics.json and exported weights record, so a number can be reproduced: dcgan's
    version, the git commit when the package runs from a checkout (with `dirty` when files differ from
    it), torch's, Python's, and the CUDA version and GPU name when `device` is a GPU."""
    record = {"dcgan": __version__, "commit": _commit(), "torch": torch.__version__,
              "python": platform.python_version(), "cuda": None, "device_name": "cpu"}
    device = torch.device(device) if device is not None else None
    if device is not None and device.type == "cuda" and torch.cuda.is_available():
        record["cuda"], record["device_name"] = torch.version.cuda, torch.cuda.get_device_name(device)
    elif device is not None:
        record["device_name"] = device.type
    return record


def _commit() -> str | None:
    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / ".git").exists():
        return None  # an installed package: its version says it
    try:
        run = lambda *a: subprocess.run(["git", "-C", str(checkout), *a], capture_output=True, text=True,  # noqa: E731
                                        timeout=10, check=True).stdout.strip()
        commit = run("rev-parse", "HEAD")
        return commit + ("-dirty" if run("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.SubprocessError):
        return None  # no git here
