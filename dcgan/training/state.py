"""What a run is at one iteration: models, optimisers (made here), EMA, position, history; saves and loads itself."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..checkpoint import rng_state, set_rng_state
from ..runtime import torch_older_than, unwrap
from ..settings.config import Config, ConfigError
from .history import COLUMNS, History
from .stabilisers import EMA


Tensor = torch.Tensor


@dataclass(eq=False)
class TrainState:
    """Everything a checkpoint holds, in one place, so the loop, the writer and a rollback share it
    instead of a dozen loose names. `lr_scale` is what rollbacks have done to the configured rates
    (1/2 per rollback), kept in checkpoints so a resumed run keeps its lowered rates."""

    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    ema: EMA | None
    fixed_noise: Tensor  # (64, nz, 1, 1): the noise behind every snapshot grid
    fixed_cond: Tensor | None  # (64, K) conditions of the grid, or None
    cond_names: list[str]
    history: History
    evals: list[dict] = field(default_factory=list)
    step: int = 0  # G updates done
    batches_done: int = 0  # real batches drawn (d_steps per iteration)
    lr_scale: float = 1.0
    # for re-measuring the EMA generator's BatchNorm statistics
    nz: int = 100
    seed: int = 0
    conds: Tensor | None = None
    rank: int = 0  # this process's place under torchrun (each rank keeps its own RNG state)
    world: int = 1
    _ema_measured_at: int = -1

    @property
    def shown(self) -> nn.Module:
        """The generator behind grids and evaluations: the EMA twin when there is one."""
        return self.ema.shadow if self.ema is not None else self.G

    def refresh_ema(self) -> None:
        """Give the EMA generator BatchNorm statistics of its own weights before it is shown or saved
        (once per iteration: a snapshot, evaluation and checkpoint at the same one share them)."""
        if self.ema is not None and self._ema_measured_at != self.step:
            self.ema.recalibrate(self.nz, cond=self.conds, seed=self.seed)
            self._ema_measured_at = self.step

    @torch.no_grad()
    def sample_fixed(self) -> Tensor:
        """The fixed-noise grid, BatchNorm in eval mode so it does not depend on a batch."""
        self.refresh_ema()
        shown = self.shown
        training = shown.training
        shown.eval()
        grid = shown(self.fixed_noise, self.fixed_cond)
        shown.train(training)
        return grid

    def state_dict(self, config: dict, steps_per_epoch: int, rng_ranks: list | None = None) -> dict:
        """The checkpoint dict, EMA generator with BatchNorm statistics of its own weights. Under torchrun
        `rng_ranks` holds every rank's RNG state (distributed.gather_rng_states), rank order."""
        out = {"G": unwrap(self.G).state_dict(), "D": unwrap(self.D).state_dict(),
               "opt_g": self.opt_g.state_dict(), "opt_d": self.opt_d.state_dict(),
               "config": config, "iteration": self.step, "batches": self.batches_done,
               "epoch": self.batches_done // steps_per_epoch, "lr_scale": self.lr_scale,
               "rng": rng_ranks[0] if rng_ranks else rng_state(), "history_rows": len(self.history["iteration"]),
               "fixed_noise": self.fixed_noise.cpu(), "evals": list(self.evals),
               "cond_names": list(self.cond_names),
               "fixed_cond": self.fixed_cond.cpu() if self.fixed_cond is not None else None}
        if rng_ranks:
            out["rng_ranks"] = list(rng_ranks)
        if self.ema is not None:
            self.refresh_ema()
            out["G_ema"] = self.ema.shadow.state_dict()
        return out

    def load_state_dict(self, saved: dict, history: dict | None = None) -> None:
        """Continue from a checkpoint: weights, optimiser states, position and RNG, and the history up to
        it: `history` (its run's history.csv up to its iteration, history.history_until), or what a
        checkpoint of an older version carries."""
        device = self.fixed_noise.device
        self.G.load_state_dict(saved["G"])
        self.D.load_state_dict(saved["D"])
        for opt, model, key in ((self.opt_g, self.G, "opt_g"), (self.opt_d, self.D, "opt_d")):
            opt.load_state_dict(saved[key])
            match_param_layout(opt)
        if self.ema is not None:  # a run that had no EMA yet starts it from G
            self.ema.shadow.load_state_dict(saved.get("G_ema", saved["G"]))
        self._ema_measured_at = -1
        self.fixed_noise = saved["fixed_noise"].to(device)
        fixed_cond = saved.get("fixed_cond", self.fixed_cond)
        self.fixed_cond = fixed_cond.to(device) if fixed_cond is not None else None
        history = saved.get("history", history) or {c: [] for c in COLUMNS}
        nan = [float("nan")] * len(history["iteration"])  # columns older runs lacked
        self.history.update({c: list(history.get(c, nan)) for c in COLUMNS})
        self.evals[:] = list(saved.get("evals", []))
        self.step = saved["iteration"]
        self.batches_done = saved.get("batches", self.step)
        self.lr_scale = float(saved.get("lr_scale", 1.0))
        self._restore_rng(saved)

    def _restore_rng(self, saved: dict) -> None:
        """This rank's RNG state: its own when the checkpoint has one per rank for this many processes.
        Otherwise (a checkpoint of another number of processes) rank 0 takes the saved one and the
        others start from their own seed and the iteration, so no two ranks draw the same noise: the
        run goes on, though not as the original launch would have gone."""
        ranks = saved.get("rng_ranks")
        if ranks and len(ranks) == self.world:
            set_rng_state(ranks[self.rank])
            return
        set_rng_state(saved["rng"])
        if self.rank > 0:
            torch.manual_seed(self.seed + 1_000_003 * (self.step + 1) + self.rank)


@torch.no_grad()
def match_param_layout(opt: torch.optim.Optimizer) -> None:
    """Give each optimiser moment its parameter's memory layout. A checkpoint written with another
    --channels-last holds moments in the old layout, which fused Adam's kernel refuses."""
    for group in opt.param_groups:
        for p in group["params"]:
            for key, value in opt.state.get(p, {}).items():
                if (isinstance(value, torch.Tensor) and value.shape == p.shape and value.dim() == 4
                        and value.stride() != p.stride()):
                    opt.state[p][key] = torch.empty_like(p, dtype=value.dtype).copy_(value)


def make_optimizer(model: torch.nn.Module, lr: float, cfg: Config) -> torch.optim.Optimizer:
    if cfg.train.optimizer == "rmsprop":  # the original WGAN's: momentum destabilised its critic
        return torch.optim.RMSprop(model.parameters(), lr=lr)
    if cfg.train.fused_adam and next(model.parameters()).device.type == "cpu" and torch_older_than(2, 4):
        raise ConfigError(f"--fused-adam on a CPU needs torch 2.4 or newer (this is {torch.__version__}); "
                          "drop --fused-adam, or upgrade torch")
    fused = {"fused": True} if cfg.train.fused_adam else {}
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(cfg.train.beta1, cfg.train.beta2), **fused)
