"""--compile and --cuda-graphs: G and D through torch.compile, safe to call the ways a GAN step calls them."""

from __future__ import annotations

import os
import shutil
import sysconfig
from pathlib import Path

import torch
from torch import nn

from ..settings.errors import ConfigError


def toolchain_problem(device_type: str) -> str | None:
    """What --compile lacks on this machine, or None. Inductor builds C++ kernels for the CPU (a C++
    compiler); on a GPU, Triton builds a small C helper at first use (a C compiler and Python.h)."""
    if device_type == "cuda":
        compiler = os.environ.get("CC") or next((c for c in ("cc", "gcc", "clang") if shutil.which(c)), None)
        if compiler is None:
            return "no C compiler (cc, gcc or clang; Triton builds a helper with it)"
        headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
        if not headers.is_file():
            return f"no Python headers ({headers} is missing; Triton's helper includes it)"
        return None
    if not os.environ.get("CXX") and not any(shutil.which(c) for c in ("c++", "g++", "clang++")):
        return "no C++ compiler (c++, g++ or clang++; Inductor builds the CPU kernels with it)"
    return None


def check_toolchain(device: torch.device) -> None:
    """One message before any model is built, instead of a compiler's traceback at the first step."""
    problem = toolchain_problem(device.type)
    if problem:
        fix = ("apt-get install gcc python3-dev (or your distribution's C compiler and Python headers)"
               if device.type == "cuda" else "apt-get install g++")
        raise ConfigError(f"--compile needs a compiler toolchain on this machine: {problem}. Install it "
                          f"({fix}), or train without --compile")


class FreshOutputs(nn.Module):
    """A compiled module whose outputs are copied out of the CUDA graph's memory pool as soon as they
    are made. Under CUDA graphs (mode reduce-overhead) a graph's outputs live in memory its next replay
    overwrites; a GAN step keeps G's fakes through D's step until G's, and D's logits in the statistics,
    so each output gets its own memory (a copy of a batch of logits and images: cheap beside the step).

    D is always called with its features: D's step runs one graph where its calls with and without
    features would compile and record one each (G's step, with D's weights frozen, runs a second)."""

    def __init__(self, compiled: nn.Module, *, features: bool):
        super().__init__()
        self.compiled, self.features = compiled, features

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None, with_features: bool = False):
        if not self.features:  # G: z -> images
            return self.compiled(x, cond).clone()
        logits, h = self.compiled(x, cond, with_features=True)
        return (logits.clone(), h.clone()) if with_features else logits.clone()


def compile_nets(G: nn.Module, D: nn.Module, *, cuda_graphs: bool) -> tuple[nn.Module, nn.Module]:
    """(G, D) for the steps to call: torch.compile'd, and with --cuda-graphs (mode reduce-overhead) each
    output in memory of its own. The plain modules keep the weights (checkpoints store those)."""
    if not cuda_graphs:
        return torch.compile(G), torch.compile(D)
    mode = "reduce-overhead"
    return (FreshOutputs(torch.compile(G, mode=mode), features=False),
            FreshOutputs(torch.compile(D, mode=mode), features=True))


def new_graph_step(cuda_graphs: bool) -> None:
    """Tell CUDA graphs that a new step starts: the last step's graph outputs may be overwritten now
    (each D step and the G step after it form one such step). A no-op without CUDA graphs."""
    if cuda_graphs:
        torch.compiler.cudagraph_mark_step_begin()


def cudagraph_skips() -> int:
    """How many times torch ran a compiled graph without CUDA graphs (a CPU tensor, a mutated input, a
    graph break...): torch counts them, where its notes about it are off unless asked for."""
    try:
        from torch._dynamo.utils import counters
    except ImportError:
        return 0
    return int(counters["inductor"]["cudagraph_skips"])
