"""The training loop: D step, G step, logging, snapshots and checkpoints, read top to bottom."""

from __future__ import annotations

import json
import os
import time
import warnings
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import torch

from .conditions import dataset_conditions, eval_conditions, fixed_conditions, mismatched
from .checkpoint import (FORMAT_VERSION, CheckpointError, atomic_torch_save, load_checkpoint, rng_state,
                         save_checkpoint, set_rng_state)
from .config import Config, ConfigError
from .data import ImageDataset, batch_stream, load_dataset, to_model_range
from .guard import (DivergenceGuard, TrainingDiverged, check_output_folder, checkpoint_bytes,
                    set_aside_previous_run)
from .distributed import any_rank, finish, init_distributed, replicas_agree
from .history import COLUMNS, History, write_evals_csv, write_history_csv
from .losses import (OBJECTIVES, feature_matching_loss, gradient_penalty, matching_aware_d_loss, no_penalty,
                     r1_penalty)
from .models import build_models
from .runtime import (default_run_dir, make_optimizer, place_images, resolve_device, resolve_precision,
                      seed_everything, stop_requests, unwrap)
from .stabilisers import EMA, clip_weights_, d_targets, diff_augment, grad_norm_, instance_noise, noise_std
from . import viz

N_FIXED = 64  # fixed noise vectors behind every snapshot grid

# Settings that define what a run *is*: a checkpoint can only be resumed under the same ones.
RUN_DEFINING = {"model": ("nz", "ngf", "ndf", "d_norm", "spectral_norm", "minibatch_std", "condition",
                          "d_condition", "embed_dim"),
                "data": ("dataset", "image_size", "channels", "split"),
                "train": ("batch_size", "seed"), "objective": ("loss",)}


def _check_resumable(state: dict, cfg: Config, path) -> None:
    saved = Config.from_dict(state["config"]).to_dict()  # fills settings older versions lacked
    now = cfg.to_dict()
    diffs = [f"{section}.{key}: checkpoint has {saved[section][key]!r}, this run has {now[section][key]!r}"
             for section, keys in RUN_DEFINING.items() for key in keys
             if saved[section][key] != now[section][key]]
    if diffs:
        raise CheckpointError(f"cannot resume from {path}: it was trained with other settings:\n  "
                              + "\n  ".join(diffs) + "\nUse the checkpoint's settings, or start a new "
                              "run without --resume.")


def train(config: Config, *, resume: str | os.PathLike | None = None,
          on_snapshot: Callable[[int, Path, dict], None] | None = None) -> History:
    """Train a DCGAN as `config` says and return its per-iteration history.

    Writes config.json, history.csv, samples/, loss.png, d_outputs.png, grad_norms.png,
    real_vs_fake.png, progress.html and checkpoints/ under the run folder. `resume` (a run folder
    or checkpoint) continues a run exactly; `on_snapshot(step, grid_path, history)` lets a
    notebook redraw.
    """
    from tqdm.auto import tqdm

    cfg = config
    tc, mc, oc = cfg.train, cfg.model, cfg.objective
    state = None
    if resume is not None:
        state = load_checkpoint(resume)
        _check_resumable(state, cfg, resume)
    run_dir = Path(tc.out) if tc.out else (
        Path(resume).parent.parent if resume and Path(resume).is_file() else
        Path(resume) if resume else default_run_dir(cfg))
    samples_dir, ckpt_dir = run_dir / "samples", run_dir / "checkpoints"

    ddp, ddp_device = init_distributed(tc.device)  # a no-op outside torchrun
    device = ddp_device or resolve_device(tc.device)
    main = ddp.is_main  # only rank 0 writes files and prints
    if tc.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    elif tc.cudnn_benchmark:
        torch.backends.cudnn.benchmark = True
    seed_everything(tc.seed)
    if tc.batch_size % ddp.world:
        raise ValueError(f"--batch-size {tc.batch_size} does not split evenly over {ddp.world} processes; "
                         f"use a multiple of {ddp.world}")

    data: ImageDataset = load_dataset(cfg.data, progress=tc.progress)
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
    if main:  # only once the data is known to be there
        moved = set_aside_previous_run(run_dir) if state is None else None
        if moved is not None:
            print(f"{run_dir} held an earlier run; it is now in {moved}")
        for d in (samples_dir, ckpt_dir):
            try:
                d.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"cannot create the run folder {d}: {e.strerror or e}; choose another --out") from None
        for stale in ckpt_dir.glob(".*.tmp-*"):  # half-written files of a run that was killed mid-save
            stale.unlink()

    G, D = build_models(nz=mc.nz, ngf=mc.ngf, ndf=mc.ndf, nc=data.channels,
                        image_size=cfg.data.image_size, d_norm=cfg.d_norm,
                        spectral_norm=mc.spectral_norm, minibatch_std=mc.minibatch_std,
                        n_cond=len(cond_names), embed_dim=mc.embed_dim, d_condition=mc.d_condition)
    memory_format = torch.channels_last if tc.channels_last else torch.contiguous_format
    G.to(device, memory_format=memory_format)
    D.to(device, memory_format=memory_format)
    opt_g = make_optimizer(G, oc.lr_g or tc.lr, cfg)
    opt_d = make_optimizer(D, oc.lr_d or tc.lr, cfg)
    # Accelerators, each a no-op when off. G_step/D_step are what the D step calls (compiled, and
    # under torchrun wrapped in DDP, which averages gradients across ranks); G's step calls the
    # frozen D_fast without DDP (no D gradients to average), and the gradient penalties the plain,
    # eager D (compiled graphs do not support the double backward they need).
    G_fast, D_fast = G, D
    if tc.compile:
        mode = "reduce-overhead" if tc.cuda_graphs else None
        G_fast, D_fast = torch.compile(G, mode=mode), torch.compile(D, mode=mode)
    G_step, D_step = G_fast, D_fast
    if ddp.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        # Each rank normalises its own share of the batch (per-device BatchNorm); buffers are not
        # broadcast, so every rank keeps its own running statistics, as a single GPU would.
        ids = [device.index] if device.type == "cuda" else None
        with warnings.catch_warnings():  # its successor flag still syncs at init; this one is right
            warnings.filterwarnings("ignore", message=".*broadcast_buffers.*", category=FutureWarning)
            G_step = DDP(G_fast, device_ids=ids, broadcast_buffers=False)
            D_step = DDP(D_fast, device_ids=ids, broadcast_buffers=False)
        # channels_last weights with one input channel have ambiguous strides: harmless, say it once
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        torch.manual_seed(tc.seed + ddp.rank)  # same initial weights (DDP copies rank 0's), own noise
    precision = resolve_precision(tc.precision, device)
    autocast = (lambda: torch.autocast(device.type, dtype=torch.bfloat16)) if precision == "bf16" \
        else nullcontext
    # The fixed noise comes from its own generator, so drawing it changes nothing else.
    fixed_noise = torch.randn(N_FIXED, mc.nz, 1, 1, generator=torch.Generator().manual_seed(tc.seed))
    fixed_cond = fixed_conditions(conds, mc.condition, tc.seed, N_FIXED)  # classes in order, or real tag sets
    history = History({c: [] for c in COLUMNS})
    step = batches_done = 0
    ema = EMA(G, oc.ema_decay) if oc.ema_decay else None  # G's smoothed twin, for samples and scores
    shown = ema.shadow if ema is not None else G  # the generator behind grids and evaluations
    evals: list[dict] = []

    def restore(saved: dict) -> None:
        """Continue from a checkpoint: weights, optimiser states, history, position and RNG."""
        nonlocal step, batches_done, fixed_noise, fixed_cond
        G.load_state_dict(saved["G"])
        D.load_state_dict(saved["D"])
        opt_g.load_state_dict(saved["opt_g"])
        opt_d.load_state_dict(saved["opt_d"])
        if ema is not None:  # a run that had no EMA yet starts it from G
            ema.shadow.load_state_dict(saved.get("G_ema", saved["G"]))
        fixed_noise = saved["fixed_noise"].to(device)
        fixed_cond = saved.get("fixed_cond", fixed_cond)
        fixed_cond = fixed_cond.to(device) if fixed_cond is not None else None
        nan = [float("nan")] * len(saved["history"]["iteration"])  # columns older runs lacked
        history.update({c: list(saved["history"].get(c, nan)) for c in COLUMNS})
        evals[:] = list(saved.get("evals", []))
        step = saved["iteration"]
        batches_done = saved.get("batches", step)
        set_rng_state(saved["rng"])

    fixed_noise = fixed_noise.to(device)
    fixed_cond = fixed_cond.to(device) if fixed_cond is not None else None
    if state is not None:
        restore(state)

    # The objective and its penalty are chosen once; the stabilisers are no-ops when off.
    objective = OBJECTIVES[oc.loss]
    penalty, penalty_weight = ((gradient_penalty, oc.gp_weight) if oc.loss == "wgan-gp" else
                               (r1_penalty, oc.r1_weight) if oc.r1_weight else (no_penalty, 0.0))
    policy = oc.augmentations

    def d_input(x: torch.Tensor, noise_level: float) -> torch.Tensor:
        """What D sees: DiffAugment, then instance noise (both identity when off)."""
        return instance_noise(diff_augment(x, policy), noise_level)

    history.run_dir = run_dir
    history.evals = evals
    if tc.eval_every:  # the feature space and the real features are built once, up front
        from .evaluate import generate_for_eval, make_space, real_features, score

        space = make_space(tc.eval_features, cfg.data, data.channels, classifier=tc.classifier or None,
                           device=device)
        real_feats = real_features(space, cfg.data, tc.eval_n)
    if main:
        check_output_folder(ckpt_dir, checkpoint_bytes([G, D] + ([ema.shadow] if ema else [])))
        (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")

    ema_measured_at = -1  # the step whose EMA weights the shadow's BatchNorm statistics describe
    pending: list[torch.Tensor] = []  # per-step stats kept on the device until the next flush
    pending_epochs: list[int] = []
    guard = DivergenceGuard(tc.divergence_patience, watch_d_wins=oc.loss in ("bce", "minimax"))
    diverged: str | None = None
    rollbacks = 0

    def flush():
        nonlocal diverged
        if not pending:
            return
        rows = torch.stack(pending).cpu().tolist()  # one host sync for many steps
        first = step - len(rows) + 1
        diverged = diverged or guard.check(rows, first, [G, D])
        for i, (row, epoch) in enumerate(zip(rows, pending_epochs)):
            for key, value in zip(COLUMNS, (first + i, epoch, *row)):
                history[key].append(value)
        pending.clear()
        pending_epochs.clear()
        bar.set_postfix(loss_d=f"{rows[-1][0]:.3f}", loss_g=f"{rows[-1][1]:.3f}",
                        d_x=f"{rows[-1][2]:.2f}", d_g_z=f"{rows[-1][3]:.2f}")

    def refresh_ema():
        """Give the EMA generator BatchNorm statistics of its own weights before it is shown or saved
        (once per step: a snapshot, evaluation and checkpoint at the same step share them)."""
        nonlocal ema_measured_at
        if ema is not None and ema_measured_at != step:
            ema.recalibrate(mc.nz, cond=conds, seed=tc.seed)
            ema_measured_at = step

    def snapshot():
        flush()  # history.csv and the notebook's plots are current to this step
        if not main:
            return
        refresh_ema()
        training = shown.training
        shown.eval()  # BatchNorm uses its running statistics: the grid does not depend on a batch
        with torch.no_grad():
            grid = shown(fixed_noise, fixed_cond)
        shown.train(training)
        path = viz.save_grid(grid, samples_dir / f"step_{step:07d}.png")
        write_history_csv(history, run_dir / "history.csv")
        if on_snapshot is not None:
            on_snapshot(step, path, history)

    def run_state():
        flush()  # a checkpoint holds the history up to its own step
        out = {"G": unwrap(G).state_dict(), "D": unwrap(D).state_dict(),
               "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
               "config": cfg.to_dict(), "iteration": step, "batches": batches_done,
               "epoch": batches_done // steps_per_epoch,
               "rng": rng_state(), "history": {c: list(history[c]) for c in COLUMNS},
               "fixed_noise": fixed_noise.cpu(), "evals": list(evals), "cond_names": list(cond_names),
               "fixed_cond": fixed_cond.cpu() if fixed_cond is not None else None}
        if ema is not None:
            refresh_ema()
            out["G_ema"] = ema.shadow.state_dict()
        return out

    def checkpoint():
        if main and not diverged:  # a diverged state is never saved over the last good one
            save_checkpoint(run_state(), ckpt_dir, step, keep_last=tc.keep_last)

    def evaluate():
        # samples from their own seeded noise, G in eval mode: the training RNG is untouched
        nonlocal eval_seconds
        started = time.perf_counter()
        eval_cond = eval_conditions(conds, mc.condition, tc.eval_n, tc.seed)
        refresh_ema()
        fake = generate_for_eval(unwrap(shown), tc.eval_n, seed=tc.seed, device=device, cond=eval_cond)
        intended = eval_cond.argmax(1) if mc.condition == "class" else None
        # seconds: training time so far, evaluations excluded (for FID-against-time charts)
        seconds = seconds_before + started - clock_start - eval_seconds
        row = {"iteration": step, "seconds": round(seconds, 2),
               **score(space, real_feats, fake, full=False, intended=intended)}
        key = f"fid_{space.tag}"
        best = min((e[key] for e in evals), default=float("inf"))
        evals.append(row)
        write_evals_csv(evals, run_dir / "evals.csv")
        if row[key] < best:
            atomic_torch_save({**run_state(), "format_version": FORMAT_VERSION}, ckpt_dir / "best.pt")
        bar.write(f"iteration {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()
                                                     if k not in ("iteration", "seconds")))
        eval_seconds += time.perf_counter() - started

    # a resumed run's clock continues from its last evaluation (older runs' evals have no seconds)
    seconds_before = float(evals[-1].get("seconds", 0.0)) if evals else 0.0
    clock_start, eval_seconds = time.perf_counter(), 0.0
    batches = batch_stream(len(data), tc.batch_size, seed=tc.seed, start=batches_done)
    bar = tqdm(total=total_steps, initial=step, desc="training", unit="it", disable=not (tc.progress and main),
               dynamic_ncols=True, mininterval=0.5)
    with stop_requests() as stop:
        while step < total_steps:
            noise_level = noise_std(oc.instance_noise, step, total_steps)
            if tc.lr_decay:  # the last lr_decay of the run: both rates fall linearly to 0
                factor = min(1.0, (total_steps - step) / (tc.lr_decay * total_steps))
                for opt in (opt_g, opt_d):
                    for group in opt.param_groups:
                        group["lr"] = group.setdefault("initial_lr", group["lr"]) * factor

            # (1) Update D: maximise log D(x) + log(1 - D(G(z))) (or the chosen objective's
            # version of "score real high, fake low"), d_steps times on fresh real batches
            for k in range(oc.d_steps):
                # every rank draws the same global batch order and takes its own share of it
                idx = next(batches)[ddp.rank::ddp.world].to(images.device)
                real = to_model_range(images[idx].to(device, non_blocking=True))
                real = real.contiguous(memory_format=memory_format)  # (b, nc, S, S)
                # fakes get the real batch's conditions: the data's class/tag frequencies
                cond = conds[idx].to(device) if conds is not None else None  # (b, K) or None
                batches_done += 1
                b = real.shape[0]
                noise = torch.randn(b, mc.nz, 1, 1, device=device)
                with torch.set_grad_enabled(k == oc.d_steps - 1), autocast():
                    fake = G_step(noise, cond)  # (b, nc, S, S); the last one is reused by G's step
                real_in, fake_in = d_input(real, noise_level), d_input(fake.detach(), noise_level)
                opt_d.zero_grad(set_to_none=True)
                with autocast():
                    real_logits, real_features = D_step(real_in, cond, with_features=True)  # (b,), (b, w, 4, 4)
                    fake_logits = D_step(fake_in, cond)  # detached input: this step must not move G
                real_target, fake_target = d_targets(b, smoothing=oc.label_smoothing, flip=oc.label_flip,
                                                     device=device)
                if oc.mismatch_weight:  # matching-aware D: a real image with the wrong condition is fake
                    with autocast():
                        wrong_logits = D_step(real_in, mismatched(cond, mc.condition))
                    loss_d = matching_aware_d_loss(objective, real_logits, fake_logits, wrong_logits,
                                                   oc.mismatch_weight, real_target, fake_target)
                else:
                    loss_d = objective.d_loss(real_logits, fake_logits, real_target, fake_target)
                d_penalty = penalty(lambda x: D(x, cond), real_in, fake_in, penalty_weight)
                (loss_d + d_penalty).backward()
                grad_norm_d = grad_norm_(D.parameters(), oc.grad_clip)
                opt_d.step()
                if oc.loss == "wgan":  # the original WGAN's crude Lipschitz constraint
                    clip_weights_(D, oc.clip_value)

            # (2) Update G: maximise log D(G(z)), judged by the D just updated.
            # D is frozen for this pass: gradients still flow through it to G, but the
            # weight gradients of D's layers (thrown away by the tutorial) are never computed.
            opt_g.zero_grad(set_to_none=True)
            D.requires_grad_(False)
            with autocast():
                fake_logits_after, fake_features = D_fast(d_input(fake, noise_level), cond, with_features=True)
            if oc.feature_matching:  # match D's mean features on the last real batch instead
                loss_g = feature_matching_loss(real_features, fake_features)
            else:
                loss_g = objective.g_loss(fake_logits_after)
            loss_g.backward()
            D.requires_grad_(True)
            grad_norm_g = grad_norm_(G.parameters(), oc.grad_clip)
            opt_g.step()
            if ema is not None:
                ema.update(G, step)

            # (3) Log, snapshot, checkpoint; stats stay on the device until a flush
            with torch.no_grad():
                pending.append(torch.stack([
                    loss_d.detach().float(), loss_g.detach().float(),
                    torch.sigmoid(real_logits.float()).mean(), torch.sigmoid(fake_logits.float()).mean(),
                    torch.sigmoid(fake_logits_after.float()).mean(),
                    real_logits.float().mean() - fake_logits.float().mean(), d_penalty.detach().float(),
                    grad_norm_d.float().to(device), grad_norm_g.float().to(device)]))
                pending_epochs.append((batches_done - 1) // steps_per_epoch)
            step += 1
            bar.update(1)
            last = step >= total_steps
            stopping = any_rank(stop.is_set(), ddp, device)  # every rank stops at the same iteration
            if (step % tc.log_every == 0 or last or stopping or step % tc.snapshot_every == 0
                    or step % tc.checkpoint_every == 0):
                flush()
            if diverged:  # stop, or go back to the last good checkpoint with half the learning rate
                last_good = ckpt_dir / "last.pt"
                if tc.on_divergence == "stop" or rollbacks >= 3 or not last_good.is_file():
                    why = ("" if tc.on_divergence == "stop" else " (no checkpoint to roll back to)"
                           if not last_good.is_file() else " (3 rollbacks did not help)")
                    bar.close()
                    raise TrainingDiverged(f"training diverged at {diverged}{why}. The last good checkpoint "
                                           f"is {last_good}" + ("" if last_good.is_file() else " (none yet)"))
                restore(load_checkpoint(last_good))
                for opt in (opt_g, opt_d):
                    for group in opt.param_groups:
                        group["lr"] *= 0.5
                        if "initial_lr" in group:  # the rate --lr-decay decays from
                            group["initial_lr"] *= 0.5
                rollbacks += 1
                pending.clear(), pending_epochs.clear(), guard.reset()
                bar.write(f"diverged at {diverged}\nrolled back to iteration {step} with learning rates "
                          f"halved (rollback {rollbacks} of 3)")
                bar.n = step
                diverged = None
                batches = batch_stream(len(data), tc.batch_size, seed=tc.seed, start=batches_done)
                continue
            if step % tc.snapshot_every == 0 or last:
                snapshot()
            if tc.eval_every and main and (step % tc.eval_every == 0 or last):
                evaluate()
            # a single process also honours a signal that arrived during the snapshot or evaluation
            stopping = stopping or (not ddp.enabled and stop.is_set())
            if step % tc.checkpoint_every == 0 or last or stopping:
                if stopping:
                    flush()
                checkpoint()
            if stopping:
                break
    bar.close()
    interrupted = step < total_steps
    if ddp.enabled:
        agree = replicas_agree([G, D], ddp)
        if main:
            print(f"{ddp.world} processes: replicas {'agree' if agree else 'DISAGREE'} on every weight")
        finish(ddp)
        if not main:
            return history

    # Final pictures of the run
    write_history_csv(history, run_dir / "history.csv")
    if history["iteration"]:
        viz.plot_losses(history, run_dir / "loss.png")
        viz.plot_d_outputs(history, run_dir / "d_outputs.png")
        viz.plot_grad_norms(history, run_dir / "grad_norms.png")
    frames = sorted(samples_dir.glob("step_*.png"))
    if frames:
        viz.animation_html(frames, run_dir / "progress.html",
                           titles=[f"iteration {int(f.stem.split('_')[1])}" for f in frames])
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(tc.seed))[:N_FIXED]
    refresh_ema()
    training = shown.training
    shown.eval()
    with torch.no_grad():
        final = shown(fixed_noise, fixed_cond).cpu()
    shown.train(training)
    viz.plot_real_vs_fake(to_model_range(images[order]), final, run_dir / "real_vs_fake.png")
    if interrupted:
        print(f"stopped at iteration {step}; checkpoint saved. Continue with:\n"
              f"  dcgan train --resume {run_dir}")
    else:
        print(f"done: {step} iterations. Outputs in {run_dir}/ (samples/, loss.png, progress.html, "
              f"real_vs_fake.png, checkpoints/last.pt)")
    return history
