"""Several processes under torchrun: process-group setup, per-rank devices, agreement checks.

`torchrun --nproc-per-node N -m dcgan train ...` sets RANK, WORLD_SIZE and LOCAL_RANK; without
them everything here is a no-op and training is a plain single process.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from ..diskio import WriteFailed
from ..settings.config import ConfigError


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


@dataclass
class _Control:
    """The process group of host-side agreement (main_first's outcomes, agree's verdicts, the RNG
    states a checkpoint gathers, the last barrier): gloo, whatever the training's backend. Its
    collectives wait `ddp_timeout` for a rank 0 that decodes a dataset or trains a classifier alone,
    where NCCL's watchdog would end the run after 10 minutes; and gloo raises at once when a peer's
    process has gone, where NCCL waits out its timeout."""

    group: object = None


_control = _Control()


def gpu_of(local_rank: int, visible: int, *, local_world: int = 1, backend: str = "nccl",
           own_visible: bool = False) -> int:
    """The GPU index this rank takes: its LOCAL_RANK among the GPUs it sees, or the only one it sees when
    the launcher gave each process its own (`own_visible`: CUDA_VISIBLE_DEVICES names one GPU). Over
    gloo, ranks may share GPUs (rank i takes GPU i mod visible); NCCL refuses two ranks on one GPU
    ("Duplicate GPU detected"), so that is said here first, with what to do."""
    if visible == 1 and own_visible:
        return 0
    if backend == "gloo":
        return local_rank % visible
    if local_world > visible or local_rank >= visible:
        raise ConfigError(f"this node runs {max(local_world, local_rank + 1)} processes but has {visible} GPU"
                          f"{'s' if visible > 1 else ''}, and NCCL cannot give two processes one GPU: launch at most "
                          f"{visible} (torchrun --nproc-per-node {visible}), give each process a GPU of its own "
                          "through CUDA_VISIBLE_DEVICES, or add --ddp-backend gloo to share GPUs (slower; for "
                          "trying the multi-process paths)")
    return local_rank


def _one_visible_gpu_each() -> bool:
    """Whether the launcher set CUDA_VISIBLE_DEVICES to a single GPU for this process."""
    names = [n for n in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if n.strip()]
    return len(names) == 1


def init_distributed(device_name: str, timeout_minutes: int = 60, backend: str = "auto"
                     ) -> tuple[Distributed, torch.device | None]:
    """Join the process group torchrun set up (`backend` auto: NCCL on GPUs, gloo on CPUs) and a gloo
    group for host-side agreement; returns this rank's place and device (None when not under
    torchrun: the caller picks the device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Distributed(), None
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    if device_name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device_name} under torchrun, but CUDA is not available")
    # any cuda* (cuda, cuda:0, ...) means "the GPUs": each rank takes the one its LOCAL_RANK names
    use_cuda = torch.cuda.is_available() and (device_name == "auto" or device_name.startswith("cuda"))
    if backend == "auto":
        backend = "nccl" if use_cuda else "gloo"
    if backend == "nccl" and not use_cuda:
        raise ConfigError("--ddp-backend nccl needs CUDA GPUs; on CPUs use --ddp-backend auto or gloo")
    if use_cuda:
        index = gpu_of(local_rank, torch.cuda.device_count(), local_world=local_world, backend=backend,
                       own_visible=_one_visible_gpu_each())
        torch.cuda.set_device(index)
        device = torch.device("cuda", index)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        kwargs = {"device_id": device} if backend == "nccl" and _accepts_device_id() else {}
        dist.init_process_group(backend, **kwargs)
    # NCCL keeps its default timeout: in the training collectives every rank is in step, and a stuck
    # one should end the run. The control group waits as long as rank 0's one-off jobs may take.
    _control.group = dist.new_group(backend="gloo", timeout=timedelta(minutes=timeout_minutes))
    return Distributed(rank, world, local_rank), device


def _accepts_device_id() -> bool:
    """init_process_group binds NCCL to this rank's GPU up front from torch 2.3 on (no guessed device
    in the first barrier)."""
    import inspect

    return "device_id" in inspect.signature(dist.init_process_group).parameters


def agree(verdict: str | None, stop: bool, d: Distributed, device: torch.device | None = None
          ) -> tuple[str | None, bool]:
    """At a flush point: whether any rank saw divergence or was asked to stop, the same answer on
    every rank (with the first diverged rank's verdict), so all roll back, stop or go on together
    and none waits alone in a collective. One small host-side all-reduce; a no-op outside torchrun.
    (`device` is unused: the answer travels over the gloo control group.)"""
    if not d.enabled:
        return verdict, stop
    t = torch.tensor([int(verdict is not None), int(stop)])
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=_control.group)
    diverged, stop = (bool(v) for v in t.tolist())
    if diverged:
        verdicts: list[str | None] = [None] * d.world
        dist.all_gather_object(verdicts, verdict, group=_control.group)
        verdict = next(v for v in verdicts if v is not None)
    return verdict, stop


def gather_rng_states(d: Distributed) -> list | None:
    """Every rank's random-number state (rank order), for a checkpoint rank 0 writes: each rank draws
    its own noise, so a resumed run must give each its own back. None outside torchrun."""
    from ..checkpoint import rng_state

    if not d.enabled:
        return None
    states: list = [None] * d.world
    dist.all_gather_object(states, rng_state(), group=_control.group)
    return states


class PeerFailed(RuntimeError):
    """Another process of this torchrun launch failed; its own message says why (this one says nothing)."""

    code = 1


_OK, _WRITE_FAILED, _FAILED = 0, 1, 2  # rank 0's outcome, as main_first tells it to the others


def _outcome(code: int) -> int:
    t = torch.tensor([code])  # on the host, over the control group: it may wait --ddp-timeout for rank 0
    dist.all_reduce(t, op=dist.ReduceOp.MAX, group=_control.group)  # the others send _OK: rank 0's code reaches every rank
    return int(t.item())


def _every_rank(error: BaseException) -> BaseException:
    error.every_rank = True  # train() lets the ranks meet once more before the process group goes
    return error


@contextmanager
def main_first(d: Distributed, device: torch.device | None = None):
    """Rank 0 runs the body first (decoding a dataset into its cache, or writing the run's files); the
    others wait to hear how it went, then run theirs (reading that cache; a writer that writes nothing).
    If rank 0's body fails, every rank raises at once: rank 0 its own error, the others WriteFailed for
    a failed write (the same exit code, no message of their own) or PeerFailed. So a full disk on rank 0
    ends the whole launch with one message, instead of leaving the others in a collective with a peer
    that has gone. One small all-reduce over the gloo control group (`device` is unused: the answer
    travels on the host); a no-op outside torchrun."""
    if not d.enabled:
        yield
        return
    if not d.is_main:
        told = _outcome(_OK)
        if told == _WRITE_FAILED:
            raise _every_rank(WriteFailed("rank 0 could not write a file of the run; its message says which and why"))
        if told == _FAILED:
            raise _every_rank(PeerFailed("rank 0 failed; its message says why"))
        yield
        return
    try:
        yield
    except WriteFailed as e:
        _outcome(_WRITE_FAILED)
        raise _every_rank(e)
    except Exception as e:
        _outcome(_FAILED)
        raise _every_rank(e)
    _outcome(_OK)


@torch.no_grad()
def replicas_agree(modules: list[torch.nn.Module], d: Distributed) -> bool:
    """Whether every rank holds the same weights (DDP's promise, checked at the end of a run)."""
    if not d.enabled:
        return True
    flat = torch.cat([p.detach().float().flatten() for m in modules for p in m.parameters()])
    if dist.get_backend() == "gloo":  # gloo gathers host tensors only (it all-reduces GPU ones, as DDP needs)
        flat = flat.cpu()
    gathered = [torch.empty_like(flat) for _ in range(d.world)]
    dist.all_gather(gathered, flat)
    return all(torch.equal(gathered[0], g) for g in gathered[1:])


def mean_over_ranks(tensors) -> list:
    """The tensors (None kept) averaged over the processes of a torchrun launch, with one
    collective; themselves when not distributed. For gradients DDP's hooks did not see."""
    tensors = list(tensors)
    present = [t for t in tensors if t is not None]
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1 or not present:
        return tensors
    flat = torch.cat([t.flatten() for t in present])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    parts = iter(flat.split([t.numel() for t in present]))
    return [None if t is None else next(parts).view_as(t) for t in tensors]


def finish(d: Distributed, *, together: bool = True) -> None:
    """Tear the process group down. When every rank ends at once, they first meet at a barrier, so no
    rank closes its connections while another still has a collective in flight on them (the worker's
    exit itself is cli._leave's). A rank that fails alone skips the barrier (nobody would come)."""
    if not (d.enabled and dist.is_initialized()):
        return
    if together:
        try:
            dist.barrier(group=_control.group)  # gloo: a peer already gone raises at once, never hangs
        except RuntimeError:  # a peer already gone: nothing left to wait for
            pass
    dist.destroy_process_group()
    _control.group = None
