"""A trained generator as one safetensors file to share: G's weights (the EMA's where kept) and its settings."""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from .checkpoint import CheckpointError, load_checkpoint
from .diskio import replacing, writing
from .models import Generator


FORMAT = "dcgan-generator"
EXAMPLES = "example_conds"  # a tag-conditional G's real tag sets, sampled when none are given


def export_generator(checkpoint: str | os.PathLike, out: str | os.PathLike, *, ema: bool = True) -> Path:
    """Write the generator of a run (its folder or a checkpoint) to `out` (.safetensors): the EMA
    weights where the run kept them (unless `ema=False`), with the settings that rebuild it as metadata."""
    from safetensors.torch import save_file

    from .provenance import provenance

    out = Path(out)
    if out.suffix != ".safetensors":
        raise ValueError(f"--out {out}: the file to write should end in .safetensors")
    state = load_checkpoint(checkpoint)
    G = Generator.from_state(state, ema=ema)
    tensors = {k: v.detach().cpu().contiguous() for k, v in G.state_dict().items()}
    if G.example_conds is not None and G.condition == "attrs":
        tensors[EXAMPLES] = G.example_conds.cpu().contiguous()
    metadata = {"format": FORMAT, "format_version": "1",
                "generator": json.dumps(G.settings), "condition": G.condition,
                "cond_names": json.dumps(G.cond_names), "weights": "ema" if ema and "G_ema" in state else "trained",
                "iteration": str(state["iteration"]), "config": json.dumps(state["config"]),
                "provenance": json.dumps(provenance())}
    out.parent.mkdir(parents=True, exist_ok=True)
    with writing("the generator's weights", out), replacing(out) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return out


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The metadata of an exported generator, its tensors left unread; a clear error for any other file."""
    return _open(path, tensors=False)[1]


def read_exported(path: str | os.PathLike) -> tuple[Generator, dict[str, str]]:
    """An exported generator rebuilt on the CPU, as load_generator does from a run, and its metadata. Only
    tensors are read (safetensors holds no code)."""
    tensors, metadata = _open(path, tensors=True)
    examples = tensors.pop(EXAMPLES, None)
    # files from before G carried its condition hold it beside its settings
    settings = {"condition": metadata.get("condition", "none"), "cond_names": json.loads(metadata.get("cond_names", "[]")),
                **json.loads(metadata["generator"])}
    G = Generator(**settings, example_conds=examples)
    G.load_state_dict(tensors)
    return G, metadata


def _open(path: str | os.PathLike, tensors: bool) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist; export one with `dcgan export RUN --out {path.name}`")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
            found = {k: f.get_tensor(k) for k in f.keys()} if tensors else {}
    except Exception as e:  # safetensors' own error for a file that is not one
        raise CheckpointError(f"{path} is not a safetensors file ({type(e).__name__}: {str(e)[:200]}); "
                              "give a file written by `dcgan export`, or a run folder") from e
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} holds tensors but not a dcgan generator (its metadata has no "
                              f"format={FORMAT}); give a file written by `dcgan export`, or a run folder")
    return found, metadata
