"""The epochs' batch order, and real batches for the D step: each rank's share of it, gathered one batch ahead."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator

import torch

from .dataset import to_model_range


Tensor = torch.Tensor


def epoch_permutation(n: int, *, seed: int, epoch: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """The shuffled order of one epoch, a pure function of (seed, epoch) so resume can redo it.
    Always drawn by the CPU's generator, then moved to `device` (where the data lives) once an
    epoch: a GPU's generator would give another order, and where the data sits (on the GPU when it
    fits in free memory, else on the host) differs between ranks and between runs."""
    g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=g).to(device)


def iterate_batches(images: torch.Tensor, batch_size: int, *, seed: int, epoch: int,
                    start: int = 0) -> Iterator[torch.Tensor]:
    """uint8 batches of one epoch, dropping the ragged last one; `start` skips batches already done."""
    order = epoch_permutation(images.shape[0], seed=seed, epoch=epoch).to(images.device)
    for b in range(start, images.shape[0] // batch_size):
        yield images[order[b * batch_size:(b + 1) * batch_size]]


def batch_stream(n: int, batch_size: int, *, seed: int, start: int = 0,
                 device: torch.device | str = "cpu") -> Iterator[torch.Tensor]:
    """Endless index batches into a dataset of n items, epoch after epoch (the same order as
    iterate_batches); `start` counts batches already consumed, so a resumed run continues the
    same sequence (an iteration may take several: --d-steps)."""
    per_epoch = n // batch_size
    epoch, offset = divmod(start, per_epoch)
    while True:
        order = epoch_permutation(n, seed=seed, epoch=epoch, device=device)
        for b in range(offset, per_epoch):
            yield order[b * batch_size:(b + 1) * batch_size]
        epoch, offset = epoch + 1, 0


class RealBatches:
    """Endless (real, cond) batches: real (b, nc, S, S) in [-1, 1] on `device`, cond (b, K) or None.

    Every rank draws the same global order (a pure function of seed and batches done) and takes
    its own share. Where the data sits decides how a batch is made:
    - on the GPU (a dataset that fits there): plain indexing, nothing leaves the device;
    - on the host (the memory-mapped cache, see cache.py) for a GPU model: a background thread
      gathers the next batch while the GPU trains on this one, so pages read from disk and the
      gather overlap the step. It fills two reused pinned buffers, whose copies to the GPU are
      asynchronous (indexing a pinned tensor would return pageable memory, whose copies block);
    - on the host for a CPU model: plain indexing. The step has the cores busy; a gathering
      thread beside it cost 15% of the default run's speed on 2 cores (`prefetch=True` forces it).
    The batches are the same every way, for the same seed and start.

    Use as a context manager (or call `close`), so the thread ends with the loop.
    """

    def __init__(self, images: Tensor, conds: Tensor | None, batch_size: int, *, seed: int, start: int,
                 device: torch.device, memory_format=torch.contiguous_format, rank: int = 0, world: int = 1,
                 prefetch: bool | None = None):
        self.images, self.conds, self.device, self.memory_format = images, conds, device, memory_format
        self.rank, self.world = rank, world
        self.indices = batch_stream(len(images), batch_size, seed=seed, start=start, device=images.device)
        on_host = images.device.type == "cpu"
        self.pinned = on_host and device.type == "cuda"
        gathered = self.pinned if prefetch is None else (prefetch and on_host)
        self.buffers: list[Tensor] = []  # two, alternating: one trains while the other fills
        self.copied: list[torch.cuda.Event] = []  # per buffer, its last copy to the GPU
        self.turn = 0
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="gather") if gathered else None
        self.ahead: Future | None = self.pool.submit(self._gather) if self.pool else None

    def _gather(self) -> tuple[Tensor, Tensor, int]:
        """(idx, the rows idx of the data in a reused buffer, which buffer); runs on the background thread."""
        idx = next(self.indices)[self.rank::self.world]
        shape = (len(idx), *self.images.shape[1:])
        if not self.buffers or self.buffers[0].shape != shape:
            self.buffers = [torch.empty(shape, dtype=self.images.dtype, pin_memory=self.pinned) for _ in range(2)]
            self.copied = [torch.cuda.Event(), torch.cuda.Event()] if self.pinned else []
        i, self.turn = self.turn, 1 - self.turn
        if self.pinned:
            self.copied[i].synchronize()  # the copy out of this buffer two batches ago is done
        torch.index_select(self.images, 0, idx, out=self.buffers[i])
        return idx, self.buffers[i], i

    def __call__(self) -> tuple[Tensor, Tensor | None]:
        if self.ahead is None:  # data on the model's GPU, or both on the CPU
            idx = next(self.indices)[self.rank::self.world]
            real = to_model_range(self.images[idx].to(self.device))
        else:
            idx, buffer, i = self.ahead.result()
            raw = buffer.to(self.device, non_blocking=self.pinned)  # the host's buffer itself on a CPU
            if self.pinned:
                # the gather after next waits for this copy before reusing the buffer. The copy ran on
                # the target device's current stream, which need not be the current device's
                # (--device cuda:1 in one process): the event is recorded there.
                self.copied[i].record(torch.cuda.current_stream(self.device))
            real = to_model_range(raw)  # a new float tensor: on the host, the buffer is free from here
            self.ahead = self.pool.submit(self._gather)  # fills the other buffer while this batch trains
        real = real.contiguous(memory_format=self.memory_format)  # (b, nc, S, S)
        cond = self.conds[idx].to(self.device) if self.conds is not None else None  # (b, K) or None
        return real, cond

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
            self.pool, self.ahead = None, None

    def __enter__(self) -> RealBatches:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
