"""The run's environment: device choice, seeding, interrupt handling, unwrapping wrapped models."""

from __future__ import annotations

import os
import random
import signal
import threading
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import numpy as np
import torch

from .settings.config import Config, ConfigError


def resolve_device(name: str | torch.device) -> torch.device:
    """A device from a setting: auto (cuda, then mps, then cpu, as the CLI's --device auto), cpu,
    cuda, cuda:N, mps, or a torch.device as it is."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {name} was asked for but CUDA is not available here; "
                           "use --device auto or cpu")
    return torch.device(name)


def default_run_dir(cfg: Config) -> Path:
    return Path("outputs") / f"{datetime.now():%Y%m%d-%H%M%S}-{cfg.data.dataset}"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain module under compile/DDP wrappers: what checkpoints store."""
    model = getattr(model, "_orig_mod", model)
    return getattr(model, "module", model)


@contextmanager
def algorithm_settings(*, deterministic: bool, cudnn_benchmark: bool):
    """Deterministic kernels (or cuDNN's autotuner) for the run only. The process's settings come
    back afterwards: a later classifier training in the same notebook must not inherit them."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.benchmark, os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
    try:
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it to be deterministic
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        elif cudnn_benchmark:
            torch.backends.cudnn.benchmark = True
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.benchmark = before[2]
        if before[3] is None:
            os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)


@contextmanager
def private_rng(*, free_algorithms: bool = False):
    """A side job (training the evaluation classifier, KID's subsets) that seeds and draws from the
    global generators without moving them: the CPU's and every GPU's states come back afterwards, so
    a run's noise never depends on whether such a job ran. `free_algorithms` also lifts
    --deterministic for the job: some layers (AdaptiveAvgPool2d's backward) have no deterministic
    CUDA kernel, and the job's own exactness is not the run's."""
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    before = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled())
    with torch.random.fork_rng(devices=cuda):
        try:
            if free_algorithms:
                torch.use_deterministic_algorithms(False)
            yield
        finally:
            torch.use_deterministic_algorithms(before[0], warn_only=before[1])


@contextmanager
def stop_requests():
    """SIGINT/SIGTERM (and a notebook's interrupt) ask the loop to stop after the current step,
    so the checkpoint it then writes is a whole step, never half of one."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        if flag.is_set():  # a second Ctrl-C means "now"
            raise KeyboardInterrupt
        flag.set()

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def torch_older_than(major: int, minor: int) -> bool:
    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2])
    return version < (major, minor)


def cuda_index(device: torch.device) -> int:
    """The GPU's index; "cuda" without one means the current GPU. Some CUDA calls of torch before 2.5
    (mem_get_info, get_device_name) refuse a device without an index."""
    return device.index if device.index is not None else torch.cuda.current_device()


def place_images(images: torch.Tensor, device: torch.device, on_device: bool) -> torch.Tensor:
    """The uint8 dataset where batches are drawn: in GPU memory when asked and it fits in a
    quarter of what is free (then shuffling and indexing never leave the GPU); else where it is,
    with no second host copy (RealBatches gathers each batch into a pinned buffer)."""
    if device.type == "cuda" and on_device:
        free, _ = torch.cuda.mem_get_info(cuda_index(device))
        if images.numel() < free // 4:
            return images.to(device)
    return images
