"""--tensorboard: the run's scalars, grids, evaluations and hparams in RUN/tensorboard/ (history.csv stays the record)."""

from __future__ import annotations

from pathlib import Path

import torch

from .history import COLUMNS


def open_tensorboard(run_dir: Path):
    """A SummaryWriter on RUN/tensorboard/, or a clear error when the optional package is missing."""
    from ..extras import require

    require("tensorboard", "--tensorboard")
    from torch.utils.tensorboard import SummaryWriter

    _quiet_writer_threads()
    return TensorBoardLog(SummaryWriter(log_dir=str(Path(run_dir) / "tensorboard")))


def _quiet_writer_threads() -> None:
    """TensorBoard's writer thread re-raises a failed write (a full disk) and Python prints its traceback;
    the same error reaches the run at its next TensorBoard call (RunWriter turns it into one message),
    so that thread's traceback is left out. Every other thread's errors are printed as before."""
    import threading

    previous = threading.excepthook
    if getattr(previous, "dcgan_quiet", False):
        return

    def hook(args):
        if type(args.thread).__name__ != "_AsyncWriterThread":
            previous(args)

    hook.dcgan_quiet = True
    threading.excepthook = hook


class TensorBoardLog:
    """Writes what the run folder's CSVs and grids hold, as TensorBoard events."""

    def __init__(self, writer):
        self.writer, self.written = writer, 0  # history rows already written

    def history(self, history: dict) -> None:
        """Every logged scalar (losses, D outputs, critic gap, penalty, gradient norms) not written yet."""
        self.written = min(self.written, len(history["iteration"]))  # a rollback shortened the history
        for i in range(self.written, len(history["iteration"])):
            step = history["iteration"][i]
            for key in COLUMNS[2:]:
                self.writer.add_scalar(f"train/{key}", history[key][i], step)
        self.written = len(history["iteration"])

    def flush(self) -> None:
        self.writer.flush()

    def grid(self, step: int, grid: torch.Tensor) -> None:
        from torchvision.utils import make_grid

        self.writer.add_image("samples/fixed_noise", make_grid(grid.detach().float().cpu(), nrow=8, normalize=True,
                                                                value_range=(-1, 1)), step)

    def evaluation(self, row: dict) -> None:
        for key, value in row.items():
            if key not in ("iteration", "seconds"):
                self.writer.add_scalar(f"eval/{key}", value, int(row["iteration"]))

    def finish(self, config: dict, history: dict, evals: list[dict]) -> None:
        """The run's settings with its final numbers, for TensorBoard's HParams tab."""
        flat = {k: v for section in config.values() for k, v in section.items()
                if isinstance(v, (int, float, str, bool))}
        final = {f"final/{k}": float(history[k][-1]) for k in ("loss_d", "loss_g") if history["iteration"]}
        key = next((k for k in (evals[0] if evals else {}) if k.startswith("fid_")), None)
        if key:
            final[f"best/{key}"] = float(min(e[key] for e in evals))
        self.writer.add_hparams(flat, final, run_name="hparams")
        self.writer.close()
