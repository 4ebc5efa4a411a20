"""Several processes under torchrun: process-group setup, per-rank devices, agreement checks.

`torchrun --nproc-per-node N -m dcgan train ...` sets RANK, WORLD_SIZE and LOCAL_RANK; without
them everything here is a no-op and training is a plain single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from .config import ConfigError


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str) -> tuple[Distributed, torch.device | None]:
    """Join the process group torchrun set up (NCCL on GPUs, gloo on CPUs); returns this rank's
    place and device (None when not under torchrun: the caller picks the device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed(), None
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    if device_name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device_name} under torchrun, but CUDA is not available")
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return Distributed(rank, world, local_rank), device


def any_rank(flag: bool, d: Distributed, device: torch.device) -> bool:
    """True on every rank if it is True on any: ranks stop at the same iteration, never deadlock."""
    if not d.enabled:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


@torch.no_grad()
def replicas_agree(modules: list[torch.nn.Module], d: Distributed) -> bool:
    """Whether every rank holds the same weights (DDP's promise, checked at the end of a run)."""
    if not d.enabled:
        return True
    flat = torch.cat([p.detach().float().flatten() for m in modules for p in m.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(d.world)]
    dist.all_gather(gathered, flat)
    return all(torch.equal(gathered[0], g) for g in gathered[1:])


def finish(d: Distributed) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()
