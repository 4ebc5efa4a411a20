"""Checkpoints: one dict per file, written atomically, loaded with weights_only=True."""

from __future__ import annotations

import os
import pickle
import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .diskio import replacing, writing


FORMAT_VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint cannot be used; the message names the file and what to do."""


# ---------------------------------------------------------------------------------------------
# RNG state as plain tensors and numbers, so weights_only loading accepts it


def rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    py_state = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": py_state[0], "state": list(py_state[1]),
                   "gauss": py_state[2]},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][:torch.cuda.device_count()])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"],
                         n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))


# ---------------------------------------------------------------------------------------------
# writing


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_torch_save(obj: Any, path: Path, what: str = "the checkpoint") -> None:
    """Write to a temporary file beside `path`, fsync, then rename: a reader sees old or new, never half.
    A write that fails (no space, a size limit) raises WriteFailed naming `what`; the previous file is untouched."""
    needed = next((q.stat().st_size for q in (path, path.parent / "last.pt") if q.is_file()), None)
    run_dir = path.parent.parent if path.parent.name == "checkpoints" else None
    with writing(what, path, needed=needed, run_dir=run_dir):
        path.parent.mkdir(parents=True, exist_ok=True)
        with replacing(path) as tmp:
            with open(tmp, "wb") as f:
                torch.save(obj, f)
                f.flush()
                os.fsync(f.fileno())
    _fsync_dir(path.parent)


def save_checkpoint(state: dict[str, Any], folder: Path, step: int, *, keep_last: int = 3) -> Path:
    """Write checkpoints/step_NNNNNNN.pt, then point last.pt at it, then drop old numbered ones."""
    folder = Path(folder)
    state = {**state, "format_version": FORMAT_VERSION}
    path = folder / f"step_{step:07d}.pt"
    atomic_torch_save(state, path)
    # last.pt becomes a hard link to the new file (no extra disk), swapped in by rename
    last_tmp = folder / f".last.pt.tmp-{os.getpid()}"
    try:
        if last_tmp.exists():
            last_tmp.unlink()
        try:
            os.link(path, last_tmp)
        except OSError:  # file systems without hard links get a copy
            import shutil
            shutil.copyfile(path, last_tmp)
        os.replace(last_tmp, folder / "last.pt")
        _fsync_dir(folder)
    finally:
        if last_tmp.exists():
            last_tmp.unlink()
    if keep_last > 0:
        numbered = sorted(folder.glob("step_*.pt"))
        for old in numbered[:-keep_last]:
            old.unlink()
    return path


# ---------------------------------------------------------------------------------------------
# reading


def resolve_checkpoint(path: str | os.PathLike) -> Path:
    """A run folder, its checkpoints folder, or a file -> the checkpoint file to load."""
    p = Path(path)
    for candidate in (p, p / "checkpoints" / "last.pt", p / "last.pt"):
        if candidate.is_file():
            return candidate
    raise CheckpointError(f"no checkpoint at {p}: pass a .pt file or a run folder holding "
                          "checkpoints/last.pt")


def run_dir_of(path: str | os.PathLike) -> Path:
    """The run folder a checkpoint belongs to, whether given as the folder, its checkpoints/ or a file."""
    file = resolve_checkpoint(path)
    return file.parent.parent if file.parent.name == "checkpoints" else file.parent


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load safely (weights_only=True): tensors and plain containers only, never code."""
    file = resolve_checkpoint(path)
    try:
        state = torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{file} holds more than tensors and plain data (pickled objects or "
                              "code), so it was refused. Only load checkpoints written by dcgan, or "
                              f"re-save the trusted file's state dicts. Detail: {str(e)[:300]}") from e
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError) as e:
        raise CheckpointError(f"{file} is truncated or damaged ({str(e)[:200]}); use an earlier "
                              "checkpoint from the same folder") from e
    if not isinstance(state, dict) or "G" not in state or "config" not in state:
        raise CheckpointError(f"{file} is not a dcgan checkpoint (no generator weights or config)")
    version = state.get("format_version", 0)
    if version > FORMAT_VERSION:
        raise CheckpointError(f"{file} has format {version}, newer than this dcgan reads "
                              f"({FORMAT_VERSION}); update the package")
    return state
