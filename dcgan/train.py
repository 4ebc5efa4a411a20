"""The training loop: D step, G step, logging, snapshots and checkpoints, read top to bottom."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .checkpoint import (FORMAT_VERSION, CheckpointError, atomic_torch_save, load_checkpoint, rng_state,
                         save_checkpoint, set_rng_state)
from .config import Config, ConfigError
from .data import ImageDataset, iterate_batches, load_dataset, to_model_range
from .history import COLUMNS, History, write_evals_csv, write_history_csv
from .losses import bce_d_loss, bce_g_loss
from .models import build_models
from . import viz

N_FIXED = 64  # fixed noise vectors behind every snapshot grid

# Settings that define what a run *is*: a checkpoint can only be resumed under the same ones.
RUN_DEFINING = {"model": ("nz", "ngf", "ndf"), "data": ("dataset", "image_size", "channels", "split"),
                "train": ("batch_size", "seed")}


def resolve_device(name: str) -> torch.device:
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


def _check_resumable(state: dict, cfg: Config, path) -> None:
    saved = state["config"]
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

    Writes config.json, history.csv, samples/, loss.png, d_outputs.png, real_vs_fake.png,
    progress.html and checkpoints/ under the run folder. `resume` (a run folder or checkpoint)
    continues a run exactly; `on_snapshot(step, grid_path, history)` lets a notebook redraw.
    """
    from tqdm.auto import tqdm

    cfg = config
    tc, mc = cfg.train, cfg.model
    state = None
    if resume is not None:
        state = load_checkpoint(resume)
        _check_resumable(state, cfg, resume)
    run_dir = Path(tc.out) if tc.out else (
        Path(resume).parent.parent if resume and Path(resume).is_file() else
        Path(resume) if resume else default_run_dir(cfg))
    samples_dir, ckpt_dir = run_dir / "samples", run_dir / "checkpoints"
    for d in (samples_dir, ckpt_dir):
        d.mkdir(parents=True, exist_ok=True)

    device = resolve_device(tc.device)
    if tc.deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)
        torch.backends.cudnn.benchmark = False
    seed_everything(tc.seed)

    data: ImageDataset = load_dataset(cfg.data, progress=tc.progress)
    steps_per_epoch = len(data) // tc.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"the dataset has {len(data)} images, fewer than one batch of "
                         f"--batch-size {tc.batch_size}; lower --batch-size or add images")
    total_steps = tc.max_steps or tc.epochs * steps_per_epoch
    images = data.images  # uint8 (N, C, S, S) on the CPU; each batch is moved and normalised

    G, D = build_models(nz=mc.nz, ngf=mc.ngf, ndf=mc.ndf, nc=data.channels,
                        image_size=cfg.data.image_size)
    memory_format = torch.channels_last if tc.channels_last else torch.contiguous_format
    G.to(device, memory_format=memory_format)
    D.to(device, memory_format=memory_format)
    opt_g = torch.optim.Adam(G.parameters(), lr=tc.lr, betas=(tc.beta1, tc.beta2))
    opt_d = torch.optim.Adam(D.parameters(), lr=tc.lr, betas=(tc.beta1, tc.beta2))
    # The fixed noise comes from its own generator, so drawing it changes nothing else.
    fixed_noise = torch.randn(N_FIXED, mc.nz, 1, 1, generator=torch.Generator().manual_seed(tc.seed))
    history = History({c: [] for c in COLUMNS})
    step = 0
    if state is not None:
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        fixed_noise = state["fixed_noise"]
        history.update({c: list(state["history"][c]) for c in COLUMNS})
        step = state["iteration"]
        set_rng_state(state["rng"])
    evals: list[dict] = list(state.get("evals", [])) if state is not None else []
    fixed_noise = fixed_noise.to(device)
    history.run_dir = run_dir
    history.evals = evals
    if tc.eval_every:  # the feature space and the real features are built once, up front
        from .evaluate import generate_for_eval, make_space, real_features, score

        space = make_space(tc.eval_features, cfg.data, data.channels, classifier=tc.classifier or None,
                           device=device)
        real_feats = real_features(space, cfg.data, tc.eval_n)
    (run_dir / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")

    pending: list[torch.Tensor] = []  # per-step stats kept on the device until the next flush

    def flush():
        if not pending:
            return
        rows = torch.stack(pending).cpu().tolist()  # one host sync for many steps
        first = step - len(rows) + 1
        for i, (ld, lg, dx, dgz1, dgz2) in enumerate(rows):
            for key, value in zip(COLUMNS, (first + i, (first + i - 1) // steps_per_epoch, ld, lg,
                                            dx, dgz1, dgz2)):
                history[key].append(value)
        pending.clear()
        bar.set_postfix(loss_d=f"{rows[-1][0]:.3f}", loss_g=f"{rows[-1][1]:.3f}",
                        d_x=f"{rows[-1][2]:.2f}", d_g_z=f"{rows[-1][3]:.2f}")

    def snapshot():
        G.eval()  # BatchNorm uses its running statistics: the grid does not depend on a batch
        with torch.no_grad():
            grid = G(fixed_noise)
        G.train()
        path = viz.save_grid(grid, samples_dir / f"step_{step:07d}.png")
        write_history_csv(history, run_dir / "history.csv")
        if on_snapshot is not None:
            on_snapshot(step, path, history)

    def run_state():
        return {"G": unwrap(G).state_dict(), "D": unwrap(D).state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                "config": cfg.to_dict(), "iteration": step, "epoch": step // steps_per_epoch,
                "rng": rng_state(), "history": {c: list(history[c]) for c in COLUMNS},
                "fixed_noise": fixed_noise.cpu(), "evals": list(evals)}

    def checkpoint():
        save_checkpoint(run_state(), ckpt_dir, step, keep_last=tc.keep_last)

    def evaluate():
        # samples from their own seeded noise, G in eval mode: the training RNG is untouched
        fake = generate_for_eval(unwrap(G), tc.eval_n, seed=tc.seed, device=device)
        row = {"iteration": step, **score(space, real_feats, fake, full=False)}
        key = f"fid_{space.tag}"
        best = min((e[key] for e in evals), default=float("inf"))
        evals.append(row)
        write_evals_csv(evals, run_dir / "evals.csv")
        if row[key] < best:
            atomic_torch_save({**run_state(), "format_version": FORMAT_VERSION}, ckpt_dir / "best.pt")
        bar.write(f"iteration {step}: " + ", ".join(f"{k} {v:.3f}" for k, v in row.items()
                                                     if k != "iteration"))

    bar = tqdm(total=total_steps, initial=step, desc="training", unit="it", disable=not tc.progress,
               dynamic_ncols=True, mininterval=0.5)
    interrupted = False
    with stop_requests() as stop:
        while step < total_steps and not interrupted:
            epoch, start = divmod(step, steps_per_epoch)
            for real_u8 in iterate_batches(images, tc.batch_size, seed=tc.seed, epoch=epoch, start=start):
                real = to_model_range(real_u8.to(device, non_blocking=True))
                real = real.contiguous(memory_format=memory_format)
                b = real.shape[0]

                # (1) Update D: maximise log D(x) + log(1 - D(G(z)))
                noise = torch.randn(b, mc.nz, 1, 1, device=device)
                fake = G(noise)  # (b, nc, S, S)
                opt_d.zero_grad(set_to_none=True)
                real_logits = D(real)  # (b,)
                fake_logits = D(fake.detach())  # detached: this step must not move G
                loss_d = bce_d_loss(real_logits, fake_logits)
                loss_d.backward()
                opt_d.step()

                # (2) Update G: maximise log D(G(z)), judged by the D just updated.
                # D is frozen for this pass: gradients still flow through it to G, but the
                # weight gradients of D's layers (thrown away by the tutorial) are never computed.
                opt_g.zero_grad(set_to_none=True)
                D.requires_grad_(False)
                fake_logits_after = D(fake)
                loss_g = bce_g_loss(fake_logits_after)
                loss_g.backward()
                D.requires_grad_(True)
                opt_g.step()

                # (3) Log, snapshot, checkpoint; stats stay on the device until a flush
                with torch.no_grad():
                    pending.append(torch.stack([
                        loss_d.detach(), loss_g.detach(), torch.sigmoid(real_logits).mean(),
                        torch.sigmoid(fake_logits).mean(), torch.sigmoid(fake_logits_after).mean()]))
                step += 1
                bar.update(1)
                last = step >= total_steps
                if step % tc.log_every == 0 or last or stop.is_set():
                    flush()
                if step % tc.snapshot_every == 0 or last:
                    snapshot()
                if tc.eval_every and (step % tc.eval_every == 0 or last):
                    evaluate()
                if step % tc.checkpoint_every == 0 or last or stop.is_set():
                    checkpoint()
                if last:
                    break
                if stop.is_set():
                    interrupted = True
                    break
    bar.close()

    # Final pictures of the run
    write_history_csv(history, run_dir / "history.csv")
    if history["iteration"]:
        viz.plot_losses(history, run_dir / "loss.png")
        viz.plot_d_outputs(history, run_dir / "d_outputs.png")
    frames = sorted(samples_dir.glob("step_*.png"))
    if frames:
        viz.animation_html(frames, run_dir / "progress.html",
                           titles=[f"iteration {int(f.stem.split('_')[1])}" for f in frames])
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(tc.seed))[:N_FIXED]
    G.eval()
    with torch.no_grad():
        final = G(fixed_noise).cpu()
    G.train()
    viz.plot_real_vs_fake(to_model_range(images[order]), final, run_dir / "real_vs_fake.png")
    if interrupted:
        print(f"stopped at iteration {step}; checkpoint saved. Continue with:\n"
              f"  dcgan train --resume {run_dir}")
    else:
        print(f"done: {step} iterations. Outputs in {run_dir}/ (samples/, loss.png, progress.html, "
              f"real_vs_fake.png, checkpoints/last.pt)")
    return history
