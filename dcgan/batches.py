"""Real batches for the D step: the epoch's order drawn where the data lives, copies that never stall."""

from __future__ import annotations

import torch

from .data import batch_stream, to_model_range

Tensor = torch.Tensor


class RealBatches:
    """Endless (real, cond) batches: real (b, nc, S, S) in [-1, 1] on `device`, cond (b, K) or None.

    Every rank draws the same global order (a pure function of seed and batches done) and takes
    its own share. Where the data sits decides the copy:
    - on the model's device (a GPU holding the dataset, or the CPU): plain indexing, no copy;
    - on the CPU for a GPU model: gathered into one of two reused pinned buffers and copied
      asynchronously, so the CPU can prepare the next batch while the GPU works (indexing a
      pinned tensor would return pageable memory, whose copies block).
    """

    def __init__(self, images: Tensor, conds: Tensor | None, batch_size: int, *, seed: int, start: int,
                 device: torch.device, memory_format=torch.contiguous_format, rank: int = 0, world: int = 1):
        self.images, self.conds, self.device, self.memory_format = images, conds, device, memory_format
        self.rank, self.world = rank, world
        self.indices = batch_stream(len(images), batch_size, seed=seed, start=start, device=images.device)
        self.staged = images.device.type == "cpu" and device.type == "cuda"
        self.buffers: list[Tensor] = []  # two pinned buffers, each with the event of its last copy out
        self.copied: list[torch.cuda.Event] = []
        self.turn = 0

    def _stage(self, idx: Tensor) -> Tensor:
        """Gather rows `idx` into a pinned buffer and start its copy to the GPU."""
        shape = (len(idx), *self.images.shape[1:])
        if not self.buffers or self.buffers[0].shape != shape:
            self.buffers = [torch.empty(shape, dtype=self.images.dtype).pin_memory() for _ in range(2)]
            self.copied = [torch.cuda.Event(), torch.cuda.Event()]  # reused: recorded again each batch
        i, self.turn = self.turn, 1 - self.turn
        self.copied[i].synchronize()  # the copy out of this buffer two batches ago is done (unrecorded: at once)
        torch.index_select(self.images, 0, idx, out=self.buffers[i])
        on_device = self.buffers[i].to(self.device, non_blocking=True)
        self.copied[i].record()
        return on_device

    def __call__(self) -> tuple[Tensor, Tensor | None]:
        idx = next(self.indices)[self.rank::self.world]  # on the data's device
        raw = self._stage(idx) if self.staged else self.images[idx].to(self.device)
        real = to_model_range(raw).contiguous(memory_format=self.memory_format)  # (b, nc, S, S)
        cond = self.conds[idx].to(self.device) if self.conds is not None else None  # (b, K) or None
        return real, cond
