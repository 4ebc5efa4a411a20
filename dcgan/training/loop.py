"""The training run: set up, then a flat loop of steps with flush, snapshot, evaluation and checkpoint."""

from __future__ import annotations

import os
import threading
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

from ..checkpoint import CheckpointError, load_checkpoint, run_dir_of
from ..data.batches import RealBatches
from ..data.conditions import dataset_conditions, eval_conditions, fixed_conditions
from ..data.dataset import ImageDataset, load_dataset, to_model_range
from ..diskio import checkpoint_bytes
from ..log import report
from ..models import models_from_config
from ..provenance import provenance
from ..runtime import (algorithm_settings, default_run_dir, place_images, resolve_device, seed_everything,
                       stop_requests, unwrap)
from ..settings.config import Config, ConfigError, run_defining
from .compiled import check_toolchain, compile_nets
from .distributed import Distributed, agree, finish, gather_rng_states, init_distributed, main_first, replicas_agree
from .divergence import DivergenceGuard, TrainingDiverged
from .history import COLUMNS, History, PendingStats, history_until
from .mixed_precision import choose_precision, step_timer
from .stabilisers import EMA, noise_std
from .state import TrainState, make_optimizer
from .steps import Nets, StepRules, train_step
from .writer import NullWriter, RunWriter, read_status, writer_alive


N_FIXED = 64  # fixed noise vectors behind every snapshot grid
MAX_ROLLBACKS = 3


class Diverged(Exception):
    """Raised out of the loop, on every rank at once, when the guard sees a run blow up."""


def _check_resumable(state: dict, cfg: Config, path) -> None:
    saved = Config.from_dict(state["config"]).to_dict()  # fills settings older versions lacked
    now = cfg.to_dict()
    diffs = [f"{section}.{key}: checkpoint has {saved[section][key]!r}, this run has {now[section][key]!r}"
             for section, keys in run_defining().items() for key in keys
             if saved[section][key] != now[section][key]]
    if diffs:
        raise CheckpointError(f"cannot resume from {path}: it was trained with other settings:\n  "
                              + "\n  ".join(diffs) + "\nUse the checkpoint's settings, or start a new "
                              "run without --resume.")


def _refuse_if_training(run_dir: Path) -> None:
    """Two processes writing one run folder would garble it: a resume waits until the other has ended."""
    status = read_status(run_dir)
    if writer_alive(status):
        raise ConfigError(f"{run_dir} is being trained right now by process {status['pid']} (iteration "
                          f"{status.get('iteration')}); let it finish or stop it (Ctrl-C there, or its stop "
                          "button), then resume")


def train(config: Config, *, resume: str | os.PathLike | None = None,
          on_snapshot: Callable[[int, Path, dict], None] | None = None,
          on_eval: Callable[[int, dict], bool] | None = None) -> History:
    """Train a DCGAN as `config` says and return its per-iteration history.

    Writes config.json, history.csv, samples/, loss.png, d_outputs.png, grad_norms.png,
    real_vs_fake.png, progress.html and checkpoints/ under the run folder. `resume` (a run folder,
    its checkpoints/ or a checkpoint file) continues a run exactly; `on_snapshot(step, grid_path,
    history)` lets a notebook redraw; `on_eval(step, row)` sees each evaluation (--eval-every) and, by
    returning True, stops the run there as Ctrl-C would (a checkpoint is written): a sweep's pruner.
    """
    tc = config.train
    from ..extras import require  # a missing extra stops the run before it starts, not at its first use

    if tc.eval_every:
        require("eval", "--eval-every (FID during training)")
    if tc.tensorboard:
        require("tensorboard", "--tensorboard")
    saved = None
    if resume is not None:
        given = Path(resume)  # the run folder, its checkpoints/ or a file in it: before any checkpoint exists
        _refuse_if_training(given if (given / "status.json").is_file() else
                            given.parent if given.name == "checkpoints" or given.is_dir() else given.parent.parent)
        saved = load_checkpoint(resume)
        _check_resumable(saved, config, resume)
        _with_history(saved, history_until(run_dir_of(resume) / "history.csv", saved["iteration"]), resume)
    run_dir = Path(tc.out) if tc.out else run_dir_of(resume) if resume is not None else default_run_dir(config)
    with algorithm_settings(deterministic=tc.deterministic, cudnn_benchmark=tc.cudnn_benchmark):
        ddp, ddp_device = init_distributed(tc.device, tc.ddp_timeout, tc.ddp_backend)  # a no-op outside torchrun
        together = False  # whether every rank ends here at once (a finished, stopped or diverged run)
        try:
            history = _train(config, saved, run_dir, ddp, ddp_device or resolve_device(tc.device), on_snapshot,
                             on_eval)
            together = True
            return history
        except TrainingDiverged:  # the ranks decide divergence together, so all of them raise it
            together = True
            raise
        except Exception as e:  # rank 0's failed write (main_first) also ends every rank at once
            together = getattr(e, "every_rank", False)
            raise
        finally:
            finish(ddp, together=together)


def _train(cfg: Config, saved: dict | None, run_dir: Path, ddp: Distributed, device: torch.device,
           on_snapshot, on_eval=None) -> History:
    from tqdm.auto import tqdm

    tc, oc = cfg.train, cfg.objective
    # ---- set-up: the seed, and a batch every rank can share ----
    seed_everything(tc.seed)
    if tc.batch_size % ddp.world:
        raise ValueError(f"--batch-size {tc.batch_size} does not split evenly over {ddp.world} processes; "
                         f"use a multiple of {ddp.world}")
    # ---- data: decoded once into the cache, placed where the batches are drawn ----
    with main_first(ddp, device):  # one rank decodes; the others read its cache
        data: ImageDataset = load_dataset(cfg.data, progress=tc.progress and ddp.is_main)
    steps_per_epoch = len(data) // tc.batch_size  # batches per pass over the data
    if steps_per_epoch == 0:
        raise ValueError(f"the dataset has {len(data)} images, fewer than one batch of "
                         f"--batch-size {tc.batch_size}; lower --batch-size or add images")
    # an iteration is one G update and takes d_steps real batches (one per D update)
    total_steps = tc.max_steps or max(1, tc.epochs * steps_per_epoch // oc.d_steps)
    images = place_images(data.images, device, tc.data_on_device)  # uint8 (N, C, S, S)
    conds, cond_names = dataset_conditions(cfg, data)  # (N, K) one-/multi-hot, or None
    if conds is not None:
        conds = conds.to(images.device)

    # ---- models: G, D, optimisers and accelerators, or a checkpoint's; precision; the run folder ----
    state, nets = _build(cfg, data, conds, cond_names, device, ddp)
    if saved is not None:
        state.load_state_dict(saved)
        _set_hyperparameters(state, cfg)  # the checkpoint's optimiser states carry its rates and betas
    state.history.run_dir, state.history.evals = run_dir, state.evals
    rules = StepRules(oc, cfg.model.nz, cfg.model.condition, device_type=device.type,
                      cuda_graphs=tc.compile and tc.cuda_graphs)
    precision = _precision(cfg, state, nets, rules, data, conds, device, ddp, saved)
    rules.bf16 = precision == "bf16"

    bar = tqdm(total=total_steps, initial=state.step, desc="training", unit="it", dynamic_ncols=True,
               disable=not (tc.progress and ddp.is_main), mininterval=0.5)
    writer = (RunWriter if ddp.is_main else NullWriter)(run_dir, keep_last=tc.keep_last,
                                                        on_snapshot=on_snapshot, tensorboard=tc.tensorboard)
    with main_first(ddp, device):  # rank 0 writes; under torchrun every rank learns whether that failed
        writer.prepare(fresh=saved is None)  # only now that the data is known to be there
        evaluate = _evaluator(cfg, data, conds, state, device) if tc.eval_every and ddp.is_main else None
        nets_bytes = checkpoint_bytes([nets.G, nets.D] + ([state.ema.shadow] if state.ema else []))
        # the precision the run trains in, whatever --precision said: a resume or rerun keeps it
        writer.start({**cfg.to_dict(), "provenance": {**provenance(device), "precision": precision}}, nets_bytes,
                     planned=total_steps, iteration=state.step)

    # ---- the loop, with recovery around it: on divergence, stop, or go back to the last good checkpoint
    # with the learning rates at 1/2, 1/4, 1/8 of the configured ones ----
    with stop_requests() as stop:
        run = _Run(cfg, state, nets, rules, device, ddp, writer, bar, stop, evaluate, total_steps, steps_per_epoch,
                   precision, on_eval)
        for rollback in range(MAX_ROLLBACKS + 1):
            try:
                # each attempt draws batches from where its state stands (a rollback goes back)
                with RealBatches(images, conds, tc.batch_size, seed=tc.seed, start=state.batches_done,
                                 device=device, memory_format=_memory_format(cfg), rank=ddp.rank,
                                 world=ddp.world) as next_batch:
                    _loop(run, next_batch)
                break
            except Diverged as e:
                _stop_or_roll_back(run, e, rollback)
    # ---- finish: the ranks compare weights; rank 0 writes the last pictures, status and summary ----
    bar.close()
    if ddp.enabled:
        same = replicas_agree([nets.G, nets.D], ddp)
        if ddp.is_main:
            report(f"{ddp.world} processes: replicas {'agree' if same else 'DISAGREE'} on every weight")
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(tc.seed))[:N_FIXED]
    with main_first(ddp, device):
        writer.finish(state.history, to_model_range(images[order]), state.sample_fixed, step=state.step,
                      interrupted=state.step < total_steps)
    return state.history


@dataclass
class _Run:
    """What the loop works with, set up once by _train."""

    cfg: Config
    state: TrainState
    nets: Nets
    rules: StepRules
    device: torch.device
    ddp: Distributed
    writer: RunWriter
    bar: Any  # tqdm
    stop: threading.Event  # set by SIGINT/SIGTERM (stop_requests)
    evaluate: Callable[[], dict] | None  # FID during training, on the writing rank only
    total_steps: int
    steps_per_epoch: int
    precision: str  # fp32 or bf16, as trained: checkpoints carry it
    on_eval: Callable[[int, dict], bool] | None = None  # True: stop here (a sweep's pruner)


def _stop_or_roll_back(run: _Run, e: Diverged, rollback: int) -> None:
    """After a divergence: stop (status "diverged", TrainingDiverged raised), or go back to the last good
    checkpoint with the learning rates halved, ready for the next attempt."""
    state, writer, on_divergence = run.state, run.writer, run.cfg.train.on_divergence
    last_good = writer.ckpt_dir / "last.pt"
    if on_divergence == "stop" or rollback == MAX_ROLLBACKS or not last_good.is_file():
        why = ("" if on_divergence == "stop" else " (no checkpoint to roll back to)"
               if not last_good.is_file() else f" ({MAX_ROLLBACKS} rollbacks did not help)")
        run.bar.close()
        with main_first(run.ddp, run.device):
            writer.status("diverged", state.step, str(e))
        raise TrainingDiverged(f"training diverged at {e}{why}. The last good checkpoint is "
                               f"{last_good}" + ("" if last_good.is_file() else " (none yet)")) from None
    scale = state.lr_scale * 0.5  # of the rates before this divergence, not the checkpoint's
    saved = load_checkpoint(last_good)
    kept = sum(1 for i in state.history["iteration"] if i <= saved["iteration"])
    state.load_state_dict(saved, {c: state.history[c][:kept] for c in COLUMNS})
    writer.history_replaced()
    _set_rates(state, run.cfg, scale)
    run.bar.n = state.step
    writer.log(f"diverged at {e}\nrolled back to iteration {state.step} with learning rates "
               f"halved (rollback {rollback + 1} of {MAX_ROLLBACKS})")


def _loop(run: _Run, next_batch: RealBatches) -> None:
    """Steps until the run's end or a stop request; raises Diverged (on every rank together)."""
    cfg, state, nets, rules, device, ddp = run.cfg, run.state, run.nets, run.rules, run.device, run.ddp
    writer, bar, stop, evaluate = run.writer, run.bar, run.stop, run.evaluate
    total_steps, steps_per_epoch = run.total_steps, run.steps_per_epoch
    tc, oc = cfg.train, cfg.objective
    pending = PendingStats()
    guard = DivergenceGuard(tc.divergence_patience, watch_d_wins=oc.loss in ("bce", "minimax"))
    config_dict = cfg.to_dict()

    while state.step < total_steps:
        if tc.lr_decay:  # the last lr_decay of the run: both rates fall linearly to 0
            _set_rates(state, cfg, state.lr_scale, decay=min(1.0, (total_steps - state.step)
                                                              / (tc.lr_decay * total_steps)))
        # ---- one iteration: D d_steps times, then G (dcgan/steps.py) ----
        stats = train_step(nets, state.opt_d, state.opt_g, rules, next_batch, d_steps=oc.d_steps, ema=state.ema,
                           noise_level=noise_std(oc.instance_noise, state.step, total_steps), step=state.step)
        state.batches_done += oc.d_steps
        pending.append(stats, (state.batches_done - 1) // steps_per_epoch)
        state.step += 1
        bar.update(1)
        writer.heartbeat(state.step)  # status.json's iteration every few seconds, for watchers

        # ---- what is due at this iteration; each write comes after exactly one flush ----
        step, last = state.step, state.step >= total_steps
        snapshot = step % tc.snapshot_every == 0 or last
        eval_due = tc.eval_every and (step % tc.eval_every == 0 or last)  # a flush on every rank
        checkpoint = step % tc.checkpoint_every == 0 or last
        asked_to_stop = stop.is_set() and not ddp.enabled  # under torchrun, ranks compare at flushes
        if not (step % tc.log_every == 0 or snapshot or eval_due or checkpoint or asked_to_stop):
            continue
        verdict = pending.flush(state.history, step, guard, [nets.G, nets.D])  # the one host sync
        verdict, stopping = agree(verdict, stop.is_set(), ddp, device)  # every rank decides the same
        if verdict is not None:
            raise Diverged(verdict)  # nothing of this state is saved: last.pt stays the last good one
        # under torchrun each rank draws its own noise: a checkpoint holds every rank's RNG state
        rngs = gather_rng_states(ddp) if (checkpoint or stopping or eval_due) else None

        def checkpoint_dict() -> dict:
            return {**state.state_dict(config_dict, steps_per_epoch, rng_ranks=rngs), "precision": run.precision}

        writer.logged(state.history)
        if pending.last is not None:
            last = pending.last
            bar.set_postfix(loss_d=f"{last['loss_d']:.3f}", loss_g=f"{last['loss_g']:.3f}", d_x=f"{last['d_x']:.2f}",
                            d_g_z=f"{last['d_g_z1']:.2f}")
        with main_first(ddp, device):  # rank 0 writes; a failed write ends every rank together
            if snapshot:
                writer.snapshot(step, state.sample_fixed, state.history)
            if eval_due and evaluate is not None:  # only the writing rank evaluates
                writer.evaluation(evaluate, state.evals, checkpoint_dict, key=evaluate.key, history=state.history)
                if run.on_eval is not None and run.on_eval(step, state.evals[-1]):
                    stop.set()
            # a single process also honours a signal that arrived during the snapshot or evaluation
            stopping = stopping or (not ddp.enabled and stop.is_set())
            if checkpoint or stopping:
                writer.checkpoint(checkpoint_dict, step, state.history)
        if stopping:
            return


def _with_history(saved: dict, history: dict | None, where) -> None:
    """A checkpoint to resume from, completed with its history (checkpoints do not carry it, so they do
    not grow with the run): its run's history.csv up to its iteration. Without that file the run
    goes on, its curves starting at the resume; older checkpoints carry their own."""
    if "history" in saved:
        return
    rows = 0 if history is None else len(history["iteration"])
    if rows < saved.get("history_rows", 0):
        report(f"{run_dir_of(where) / 'history.csv'} holds {rows} of the {saved['history_rows']} rows of history "
               f"before iteration {saved['iteration']}: the resumed run's curves miss the rest")
    if history is not None:
        saved["history"] = history


def _set_rates(state: TrainState, cfg: Config, scale: float, decay: float | None = None) -> None:
    """Both learning rates: the configured ones times `scale` (rollbacks), times `decay` (--lr-decay)."""
    state.lr_scale = scale
    for opt, rate in zip((state.opt_g, state.opt_d), cfg.train.rates):
        for group in opt.param_groups:
            if decay is not None or "initial_lr" in group:  # the rate --lr-decay decays from
                group["initial_lr"] = rate * scale
            group["lr"] = rate * scale * (1.0 if decay is None else decay)


def _set_hyperparameters(state: TrainState, cfg: Config) -> None:
    """This run's rates and Adam betas into optimisers loaded from a checkpoint, whose states hold
    the old ones: --lr, --lr-g, --lr-d, --beta1 and --beta2 given with --resume take effect, and
    a plain resume sets the values it already had."""
    _set_rates(state, cfg, state.lr_scale)
    for opt in (state.opt_g, state.opt_d):
        for group in opt.param_groups:
            if "betas" in group:  # Adam (RMSprop has none)
                group["betas"] = (cfg.train.beta1, cfg.train.beta2)


def _precision(cfg: Config, state: TrainState, nets: Nets, rules: StepRules, data: ImageDataset, conds,
               device: torch.device, ddp: Distributed, saved: dict | None) -> str:
    """fp32 or bf16; `auto` times both on this machine once per model shape (dcgan/precision.py), and
    a resumed run keeps the one its checkpoint trained in (another GPU must not switch it silently).
    Under torchrun ranks timing at once would measure each other, so there auto stays fp32."""
    if cfg.train.precision == "auto" and saved is not None and saved.get("precision"):
        return saved["precision"]
    b, S = cfg.train.batch_size // ddp.world, cfg.data.image_size

    def stand_in_batch():  # made only if a timing runs; its own generator leaves the run's RNG alone
        real = torch.rand(b, data.channels, S, S, generator=torch.Generator().manual_seed(0)) * 2 - 1
        return (real.to(device).contiguous(memory_format=_memory_format(cfg)),
                conds[:b].to(device) if conds is not None else None)

    timer = None if ddp.enabled else step_timer(nets, state.opt_g, state.opt_d, rules, stand_in_batch)
    shape = (f"{S}px {data.channels}ch nz {cfg.model.nz} ngf {cfg.model.ngf} ndf {cfg.model.ndf} batch {b} "
             f"{cfg.objective.loss} d_steps {cfg.objective.d_steps} channels_last {cfg.train.channels_last}")
    return choose_precision(cfg.train.precision, device, shape=shape, time_step=timer,
                            say=report if ddp.is_main else lambda _: None, deterministic=cfg.train.deterministic)


def _memory_format(cfg: Config):
    return torch.channels_last if cfg.train.channels_last else torch.contiguous_format


def _build(cfg: Config, data: ImageDataset, conds, cond_names: list[str], device: torch.device,
           ddp: Distributed) -> tuple[TrainState, Nets]:
    """Models, optimisers and accelerators (each a no-op when off), EMA, fixed noise: a fresh state."""
    tc, mc, oc = cfg.train, cfg.model, cfg.objective
    if tc.compile:
        check_toolchain(device)
    G, D = models_from_config(cfg, nc=data.channels, cond_names=cond_names)
    G.to(device, memory_format=_memory_format(cfg))
    D.to(device, memory_format=_memory_format(cfg))
    rate_g, rate_d = tc.rates
    opt_g = make_optimizer(G, rate_g, cfg)
    opt_d = make_optimizer(D, rate_d, cfg)
    nets = Nets.plain(G, D)
    if tc.compile:  # the compiled modules share the plain ones' weights (dcgan/compiled.py)
        nets.G_trained, nets.D_trained = compile_nets(G, D, cuda_graphs=tc.cuda_graphs)
        nets.D_frozen = nets.D_trained
    if ddp.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        # Each rank normalises its own share of the batch (per-device BatchNorm); buffers are not
        # broadcast, so every rank keeps its own running statistics, as a single GPU would.
        ids = [device.index] if device.type == "cuda" else None
        with warnings.catch_warnings():  # its successor flag still syncs at init; this one is right
            warnings.filterwarnings("ignore", message=".*broadcast_buffers.*", category=FutureWarning)
            nets.G_trained = DDP(nets.G_trained, device_ids=ids, broadcast_buffers=False)
            nets.D_trained = DDP(nets.D_trained, device_ids=ids, broadcast_buffers=False)
        # channels_last weights with one input channel have ambiguous strides: harmless, say it once
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        torch.manual_seed(tc.seed + ddp.rank)  # same initial weights (DDP copies rank 0's), own noise
    # The fixed noise comes from its own generator, so drawing it changes nothing else.
    fixed_noise = torch.randn(N_FIXED, mc.nz, 1, 1, generator=torch.Generator().manual_seed(tc.seed))
    fixed_cond = fixed_conditions(conds, mc.condition, tc.seed, N_FIXED)  # classes in order, or real tag sets
    state = TrainState(G, D, opt_g, opt_d, EMA(G, oc.ema_decay, oc.ema_rampup) if oc.ema_decay else None,
                       fixed_noise.to(device), fixed_cond.to(device) if fixed_cond is not None else None,
                       list(cond_names), History({c: [] for c in COLUMNS}), nz=mc.nz, seed=tc.seed, conds=conds,
                       rank=ddp.rank, world=ddp.world)
    return state, nets


def _evaluator(cfg: Config, data: ImageDataset, conds, state: TrainState, device: torch.device):
    """FID (and class coverage) of the shown generator on its own seeded noise, the training RNG
    untouched. The feature space and the real features are built once, up front. Each row
    carries `seconds`: training time so far with evaluations left out, for FID-against-time
    charts (a resumed run's clock continues from its last evaluation)."""
    from ..evaluation.evaluate import generate_for_eval, make_space, real_features, score

    tc, mc = cfg.train, cfg.model
    space = make_space(tc.eval_features, cfg.data, data.channels, classifier=tc.classifier or None, device=device)
    real_feats = real_features(space, cfg.data, tc.eval_n)
    clock = _Clock(float(state.evals[-1].get("seconds", 0.0)) if state.evals else 0.0)

    def evaluate() -> dict:
        with clock.paused() as seconds:
            eval_cond = eval_conditions(conds, mc.condition, tc.eval_n, tc.seed)
            state.refresh_ema()
            fake = generate_for_eval(unwrap(state.shown), tc.eval_n, seed=tc.seed, device=device, cond=eval_cond)
            intended = eval_cond.argmax(1) if mc.condition == "class" else None
            return {"iteration": state.step, "seconds": round(seconds, 2),
                    **score(space, real_feats, fake, full=False, intended=intended)}

    evaluate.key = f"fid_{space.tag}"
    return evaluate


class _Clock:
    """Seconds of training, with the time spent inside `paused()` left out."""

    def __init__(self, before: float = 0.0):
        self.before, self.start, self.left_out = before, time.perf_counter(), 0.0

    @contextmanager
    def paused(self):
        started = time.perf_counter()
        try:
            yield self.before + started - self.start - self.left_out
        finally:
            self.left_out += time.perf_counter() - started
