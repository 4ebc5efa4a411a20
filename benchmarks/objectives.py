"""FID of each objective and stabiliser after the same training budget: the table behind the default.

    python benchmarks/objectives.py                       # every variant, the default run's budget
    python benchmarks/objectives.py --epochs 1 --only classic,ema,hinge-sn
    python benchmarks/objectives.py --seed 2 --only classic,grad-clip   # another seed, paired with classic
    python benchmarks/objectives.py --table               # print the table of what is done, draw the chart

Each variant trains on Fashion-MNIST 32x32 (ngf = ndf = 64, batch 128, seed 999) for --epochs
passes over the data (default 3: the foundation's default run, 1404 batches). The budget is data,
not G updates: with --d-steps k an iteration takes k batches, so it makes 1/k as many G updates.
Then the run is scored by
`dcgan evaluate` with the Fashion-MNIST classifier's features on --n samples. Results are
appended to OUT/results.csv as each variant finishes, so an interrupted sweep picks up where
it stopped; runs stay in OUT/<variant>/ to look at.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcgan.settings.config import Config, recipe_ladder  # noqa: E402
from dcgan.settings.recipes import DEFAULT_RECIPE  # noqa: E402

SEED = 999  # the default run's
TUNED = "grad-clip"  # classic with gradient clipping alone: the baseline the recipe ladder starts from

LADDER = recipe_ladder()  # the steps from classic to the default recipe, as the package has them
_FGER1 = LADDER["fge-r1-lazy"]  # fast-g-ema-r1
_B64 = LADDER["r1-ema"]

# name -> settings on top of the classic recipe; the order is the order of the sweep
VARIANTS = {
    "classic": {},
    "ema": {"ema_decay": 0.999},
    "spectral-norm": {"spectral_norm": True},
    "label-smoothing": {"label_smoothing": 0.1},
    "instance-noise": {"instance_noise": 0.1},
    "diffaug": {"diffaug": "translation,cutout"},
    "ttur": {"lr_d": 4e-4, "lr_g": 1e-4},
    "r1": {"r1_weight": 0.1},
    "minibatch-std": {"minibatch_std": True},
    "feature-matching": {"feature_matching": True},
    "label-flip": {"label_flip": 0.05},
    "grad-clip": LADDER["grad-clip"],
    "d-steps-2": {"d_steps": 2},
    "hinge": {"loss": "hinge"},
    "lsgan": {"loss": "lsgan"},
    "minimax": {"loss": "minimax"},
    "wgan": {"loss": "wgan"},
    "wgan-gp": {"loss": "wgan-gp"},
    "hinge-sn": {"loss": "hinge", "spectral_norm": True},
    "ema-sn": {"ema_decay": 0.999, "spectral_norm": True},
    # the best single setting with the cheap ones that also beat classic on their own
    "clip-ema": {"grad_clip": 10.0, "ema_decay": 0.999},
    "clip-smooth-ema": {"grad_clip": 10.0, "label_smoothing": 0.1, "ema_decay": 0.999},
    # on top of grad-clip: learning rates, batch size, Adam's beta2, lr decay, EMA
    "clip-lr4": LADDER["clip-lr4"],
    "clip-batch64": {"grad_clip": 10.0, "batch_size": 64},
    "clip-beta2-99": {"grad_clip": 10.0, "beta2": 0.99},
    "clip-lrdecay": {"grad_clip": 10.0, "lr_decay": 0.5},
    "clip-lr8": {"grad_clip": 10.0, "lr": 8e-4},
    "clip-lr4-ema": {"grad_clip": 10.0, "lr": 4e-4, "ema_decay": 0.999},
    "clip-lr4-decay": {"grad_clip": 10.0, "lr": 4e-4, "lr_decay": 0.3},
    "clip-lr8-ema": {"grad_clip": 10.0, "lr": 8e-4, "ema_decay": 0.999},
    # on top of the fast recipe: a faster D (TTUR), and Adam's momentum off as in the GAN papers after DCGAN
    "clip-lr4-dlr8": {"grad_clip": 10.0, "lr_g": 4e-4, "lr_d": 8e-4},
    "clip-lr4-b0": {"grad_clip": 10.0, "lr": 4e-4, "beta1": 0.0, "beta2": 0.99},
    "clip-lr4-batch64": {"grad_clip": 10.0, "lr": 4e-4, "batch_size": 64},
    # the hinge objective at clip-lr4's rates, and a faster G instead of a faster D
    "clip-lr4-hinge": {"grad_clip": 10.0, "lr": 4e-4, "loss": "hinge"},
    "clip-g8-d4": LADDER["clip-g8-d4"],
    # widths: D wins the fast recipe's game (its loss ends near 0.15); a narrower D, a wider G
    "clip-lr4-ndf32": {"grad_clip": 10.0, "lr": 4e-4, "ndf": 32},
    "clip-lr4-ngf128": {"grad_clip": 10.0, "lr": 4e-4, "ngf": 128},
    # the faster G (clip-g8-d4) with a narrower D, and with a wider G at about the default's cost
    "clip-g8-d4-ndf32": {"grad_clip": 10.0, "lr_g": 8e-4, "lr_d": 4e-4, "ndf": 32},
    "clip-g8-d4-ngf96-ndf32": {"grad_clip": 10.0, "lr_g": 8e-4, "lr_d": 4e-4, "ngf": 96, "ndf": 32},
    "clip-g16-d4": {"grad_clip": 10.0, "lr_g": 1.6e-3, "lr_d": 4e-4},
    "clip-g8-d2": {"grad_clip": 10.0, "lr_g": 8e-4, "lr_d": 2e-4},
    "clip-g12-d4": {"grad_clip": 10.0, "lr_g": 1.2e-3, "lr_d": 4e-4},
    "clip-g8-d4-smooth": {"grad_clip": 10.0, "lr_g": 8e-4, "lr_d": 4e-4, "label_smoothing": 0.1},
    "clip-g8-d4-ema": {"grad_clip": 10.0, "lr_g": 8e-4, "lr_d": 4e-4, "ema_decay": 0.999},
    "clip-g12-d4-ema-smooth": LADDER["clip-g12-d4-ema-smooth"],
    "ragan-g12-d4-ema-smooth": {"loss": "ragan", "grad_clip": 10.0, "lr_g": 1.2e-3, "lr_d": 4e-4,
                                "ema_decay": 0.999, "label_smoothing": 0.1},
    # on top of fast-g-ema (the row above ragan's); fge-r1-lazy is fast-g-ema-r1
    "fge-lr6": {"grad_clip": 10.0, "lr_g": 1.8e-3, "lr_d": 6e-4, "ema_decay": 0.999, "label_smoothing": 0.1},
    "fge-r1-lazy": dict(_FGER1),
    "fge-r1-lazy-1": {"grad_clip": 10.0, "lr_g": 1.2e-3, "lr_d": 4e-4, "ema_decay": 0.999, "label_smoothing": 0.1,
                      "r1_weight": 1.0, "r1_every": 16, "penalty_clip": "joint"},
    "fge-ngf96-ndf48": {"grad_clip": 10.0, "lr_g": 1.2e-3, "lr_d": 4e-4, "ema_decay": 0.999,
                        "label_smoothing": 0.1, "ngf": 96, "ndf": 48},
    # on top of fge-r1-lazy; R1's gradient clipped with the loss's (joint) in all but fger1-b64 (r1-ema)
    "fger1-b64": dict(_B64),  # the r1-ema recipe
    "fger1-lr6": {**_FGER1, "lr_g": 1.8e-3, "lr_d": 6e-4},
    "fger1-beta2-99": {**_FGER1, "beta2": 0.99},
    # the EMA's span: the warm-up keeps it at about the last 1/9 of the run in a short one (--ema-rampup)
    "fger1-ema-r25": {**_FGER1, "ema_rampup": 0.25},
    "fger1-ema-r05": {**_FGER1, "ema_rampup": 0.05},
    # batch 64 (fger1-b64) and what goes with it
    "fger1-b64-ema-r25": {**_FGER1, "batch_size": 64, "ema_rampup": 0.25},
    "fger1-b32": {**_FGER1, "batch_size": 32},
    "fger1-b64-beta2-99": {**_FGER1, "batch_size": 64, "beta2": 0.99},
    "fger1-b64-ms1": {**_FGER1, "batch_size": 64, "mode_seeking": 1.0},
    # on top of the default (fger1-b64): the relativistic pairing loss with R1 and R2 (Huang et al. 2025)
    "b64-rpgan-r2": {**_FGER1, "batch_size": 64, "penalty_clip": "own", "loss": "rpgan", "r2_weight": 0.1,
                     "label_smoothing": 0.0},
    "b64-rpgan": {**_FGER1, "batch_size": 64, "penalty_clip": "own", "loss": "rpgan", "label_smoothing": 0.0},
    "b64-r2": {**_FGER1, "batch_size": 64, "penalty_clip": "own", "r2_weight": 0.1},
    # on top of r1-ema: toward half its FID at 2 epochs at about its time per epoch
    "b64-lr15": {**_B64, "lr_g": 1.8e-3, "lr_d": 6e-4},
    "b64-b48": {**_B64, "batch_size": 48},
    "b64-b32": {**_B64, "batch_size": 32},
    "b64-dnorm-none": {**_B64, "d_norm": "none"},
    "b64-nosmooth": {**_B64, "label_smoothing": 0.0},
    "b64-beta1-0": {**_B64, "beta1": 0.0, "beta2": 0.99},
    "b64-ema-r05": {**_B64, "ema_rampup": 0.05},
    "b64-r1-1": {**_B64, "r1_weight": 1.0},
    "b64-r1-001": {**_B64, "r1_weight": 0.01},
    "b64-nearest": {**_B64, "g_upsample": "nearest"},
    "b64-bcr": {**_B64, "bcr_weight": 10.0},  # balanced consistency regularisation (Zhao et al. 2020)
    "b64-bcr-lazy4": {**_B64, "bcr_weight": 10.0, "bcr_every": 4},
    "b64-bcr1-lazy4": {**_B64, "bcr_weight": 1.0, "bcr_every": 4},
    # on top of batch 32
    "b32-ema-r05": {**_B64, "batch_size": 32, "ema_rampup": 0.05},
    "b32-decay25": {**_B64, "batch_size": 32, "lr_decay": 0.25},
    "b32-ndf48": {**_B64, "batch_size": 32, "ndf": 48},
    "b32-decay-ema": LADDER[DEFAULT_RECIPE],  # r1-ema-b32, the default
    "b32-all": {**_B64, "batch_size": 32, "lr_decay": 0.25, "ema_rampup": 0.05, "ndf": 48},
}


def run_variant(name: str, settings: dict, args, precision: str, seed: int) -> dict:
    from dcgan.evaluation.evaluate import evaluate_checkpoint
    from dcgan.runtime import resolve_device
    from dcgan.training.loop import train

    out = Path(args.out) / (name if seed == SEED else f"{name}-seed{seed}")
    per_epoch = 60000 // settings.get("batch_size", 128)  # Fashion-MNIST's training set, last part batch dropped
    cfg = Config.from_flat(recipe="classic", dataset="fashion-mnist", data_root=args.data_root,
                           epochs=args.epochs, out=str(out), snapshot_every=100, checkpoint_every=per_epoch, keep_last=0,
                           progress=args.progress, precision=precision, seed=seed,
                           eval_every=args.eval_every, eval_n=2000, **settings)
    start = time.perf_counter()
    history = train(cfg)
    minutes = (time.perf_counter() - start) / 60
    result = evaluate_checkpoint(out, n=args.n, device=resolve_device("auto"))
    m = result["metrics"]
    # two epochs in: the checkpoint written then (one per epoch), which is what a 2-epoch run gives for
    # recipes whose schedule does not depend on the run's length
    two = out / "checkpoints" / f"step_{2 * per_epoch:07d}.pt"
    fid_2ep = (round(evaluate_checkpoint(two, n=args.n, device=resolve_device("auto"), write=False)
                     ["metrics"]["fid_fmnist_cnn"], 3)
               if two.is_file() and args.epochs > 2 and not settings.get("lr_decay") else "")
    return {"variant": name, "settings": json.dumps(settings), "epochs": args.epochs,
            "precision_mode": precision, "seed": seed, "iterations": len(history["iteration"]),
            "fid": round(m["fid_fmnist_cnn"], 3), "kid": round(m["kid_fmnist_cnn"], 3),
            "coverage": round(m["class_coverage_fmnist_cnn"], 3), "fid_at_936": fid_2ep,
            "precision": round(m["precision_fmnist_cnn"], 3), "recall": round(m["recall_fmnist_cnn"], 3),
            "final_loss_d": round(history["loss_d"][-1], 4), "train_minutes": round(minutes, 2),
            "generator": result["generator"]}


def read_rows(path: Path) -> list[dict]:
    rows = list(csv.DictReader(open(path))) if path.is_file() else []
    for r in rows:  # rows from before these columns: fp32, the default seed
        r["precision_mode"] = r.get("precision_mode") or "fp32"
        r["seed"] = r.get("seed") or str(SEED)
    return rows


def paired_results(path: Path, epochs: int, precision: str) -> tuple[dict[str, list[dict]], dict[str, float]]:
    """This budget's rows by variant, each sorted by seed, and classic's FID at each seed."""
    by_variant: dict[str, list[dict]] = {}
    for r in read_rows(path):
        if r["epochs"] == str(epochs) and r["precision_mode"] == precision:
            by_variant.setdefault(r["variant"], []).append(r)
    for rs in by_variant.values():
        rs.sort(key=lambda r: int(r["seed"]))
    classic = {r["seed"]: float(r["fid"]) for r in by_variant.get("classic", [])}
    return by_variant, classic


def ratios_to_classic(rs: list[dict], classic: dict[str, float]) -> list[float]:
    """Each run's FID over classic's at the same seed: one run's FID moves by several points from seed
    to seed, so a variant run at one seed is only comparable with classic at that seed."""
    return [float(r["fid"]) / classic[r["seed"]] for r in rs if r["seed"] in classic]


def mean(values) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values)


def plot(path: Path, epochs: int, precision: str) -> Path | None:
    """A bar per variant: its FID over classic's at the same seed (mean over seeds, a dot per seed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_variant, classic = paired_results(path, epochs, precision)
    ratios = {n: ratios_to_classic(rs, classic) for n, rs in by_variant.items()}
    ratios = {n: v for n, v in ratios.items() if v}
    if not ratios:
        return None
    names = sorted(ratios, key=lambda n: mean(ratios[n]))
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(names) + 1.4), constrained_layout=True)
    ax.barh(names, [mean(ratios[n]) for n in names], color=["0.6" if n == "classic" else "C0" for n in names])
    for i, n in enumerate(names):
        ax.plot(ratios[n], [i] * len(ratios[n]), "k.", ms=4)
        ax.annotate(f"{len(ratios[n])} seed{'s' if len(ratios[n]) > 1 else ''}", (0.02, i), va="center",
                    fontsize=7, color="white", xycoords=("axes fraction", "data"))
    ax.axvline(1.0, color="0.4", ls="--", lw=1)
    ax.invert_yaxis()
    ax.set_xlabel("FID / classic's FID at the same seed (Fashion-MNIST classifier features, 10k samples; "
                  "lower is better)", fontsize=8)
    ax.set_title(f"Fashion-MNIST 32x32 after {epochs} epoch{'s' if epochs != 1 else ''} ({precision}); "
                 "dots: one seed each")
    out = path.with_name(f"fid_{epochs}ep_{precision}.png")
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_time(out_dir: Path, names: list[str], labels: dict[str, str] | None = None) -> Path | None:
    """FID during training (evals.csv: 2000 samples every --eval-every iterations) against training
    minutes, evaluations left out: a thin line per seed and the mean over seeds in bold."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    drawn = False
    for i, name in enumerate(names):
        curves = []
        for run in sorted(out_dir.glob(f"{name}*/evals.csv")):
            if run.parent.name != name and not run.parent.name.startswith(f"{name}-seed"):
                continue
            rows = list(csv.DictReader(open(run)))
            if not rows or "seconds" not in rows[0]:
                continue
            minutes = [float(r["seconds"]) / 60 for r in rows]
            fids = [float(r["fid_fmnist_cnn"]) for r in rows]
            ax.plot(minutes, fids, color=f"C{i}", lw=0.7, alpha=0.45)
            curves.append((minutes, fids))
        if not curves:
            continue
        n = min(len(c[1]) for c in curves)
        ax.plot([mean(c[0][j] for c in curves) for j in range(n)], [mean(c[1][j] for c in curves) for j in range(n)],
                color=f"C{i}", lw=2.2, marker="o", ms=3,
                label=f"{(labels or {}).get(name, name)} ({len(curves)} seed{'s' if len(curves) > 1 else ''})")
        drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_yscale("log")
    ax.set_xlabel("training minutes (evaluations left out), 2-core CPU")
    ax.set_ylabel("FID, classifier features, 2000 samples (log)")
    ax.set_title("Fashion-MNIST 32x32: FID during training against wall-clock time")
    ax.grid(alpha=0.3, which="both")
    ax.legend()
    out = out_dir / "fid_vs_minutes.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_grids(out_dir: Path, names: list[str], labels: dict[str, str], results: Path) -> Path | None:
    """The last snapshot grid (the same 64 fixed noise vectors) of each variant's default-seed run,
    side by side, titled with its FID on 10k samples from `results` (a results.csv)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    fids = {r["variant"]: r["fid"] for r in read_rows(results) if r["seed"] == str(SEED)}
    runs = [(n, sorted((out_dir / n / "samples").glob("step_*.png"))) for n in names]
    runs = [(n, grids[-1]) for n, grids in runs if grids]
    if not runs:
        return None
    fig, axes = plt.subplots(1, len(runs), figsize=(3.2 * len(runs), 3.5), squeeze=False, constrained_layout=True)
    for ax, (name, grid) in zip(axes[0], runs):
        ax.imshow(Image.open(grid), cmap="gray")
        ax.set_title(f"{labels.get(name, name)}: FID {float(fids[name]):.1f}" if name in fids else labels.get(name, name),
                     fontsize=9)
        ax.axis("off")
    fig.suptitle(f"The same 64 noise vectors after the same data (the runs' last grids, seed {SEED}); "
                 "FID on 10k samples")
    out = out_dir / "recipes_grids.png"
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def print_table(path: Path, epochs: int, precision: str) -> None:
    """One row per variant at this budget: mean FID over its seeds, and each seed's ratio to classic."""
    by_variant, classic = paired_results(path, epochs, precision)
    if not by_variant:
        print(f"no results yet at {epochs} epochs, {precision}")
        return

    def order(name: str) -> float:  # mean ratio to classic; mean FID for a variant with no paired seed
        return mean(ratios_to_classic(by_variant[name], classic) or [r["fid"] for r in by_variant[name]])

    print(f"Fashion-MNIST 32x32, {epochs} epochs, {precision}; FID in the classifier's features")
    tuned = {r["seed"]: float(r["fid"]) for r in by_variant.get(TUNED, [])}
    print("| variant | settings | G updates | FID (mean) | FID per seed | vs classic, same seed "
          f"| vs {TUNED} (the old default), same seed | FID after 2 epochs (mean, seeds) | precision | recall | coverage "
          "| train min |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in sorted(by_variant, key=order):
        rs = by_variant[name]
        seeds = ", ".join(f"{float(r['fid']):.1f} (seed {r['seed']})" for r in rs)
        ratios = ", ".join(f"{x:.2f}x" for x in ratios_to_classic(rs, classic))
        vs_tuned = ", ".join(f"{x:.2f}x" for x in ratios_to_classic(rs, tuned))
        coverage = mean(r.get("coverage") or "nan" for r in rs)
        at_936 = [r["fid_at_936"] for r in rs if r.get("fid_at_936")]
        at_936 = f"{mean(at_936):.2f} ({len(at_936)})" if at_936 else ""
        print(f"| {name} | `{rs[0]['settings']}` | {rs[0]['iterations']} | {mean(r['fid'] for r in rs):.2f} | "
              f"{seeds} | {ratios} | {vs_tuned} | {at_936} | {mean(r['precision'] for r in rs):.3f} "
              f"| {mean(r['recall'] for r in rs):.3f} | {coverage:.2f} | {mean(r['train_minutes'] for r in rs):.1f} |")


def report(path: Path, epochs: int, precision: str) -> None:
    print_table(path, epochs, precision)
    chart = plot(path, epochs, precision)
    if chart:
        print(f"chart: {chart}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="passes over the data per variant (default: 3)")
    parser.add_argument("--n", type=int, default=10000, help="samples for FID (default: 10000)")
    parser.add_argument("--only", default="", help="comma-separated variants (default: all)")
    parser.add_argument("--out", default="outputs/objectives", help="(default: outputs/objectives)")
    parser.add_argument("--data-root", default="data", help="(default: data)")
    parser.add_argument("--precision", default="auto", help="auto (what the default run uses: bf16 on CPUs "
                        "with native bf16, else fp32), fp32 or bf16; compare only rows of one precision (default: auto)")
    parser.add_argument("--seed", default=str(SEED), help=f"training seed, or several comma-separated "
                        f"(each variant runs at each); other seeds show the noise in one run's FID (default: {SEED})")
    parser.add_argument("--eval-every", type=int, default=200, help="FID on 2000 samples every N iterations "
                        "during training, with training seconds: evals.csv for the FID-against-time chart "
                        "(0: off; default: 200)")
    parser.add_argument("--table", action="store_true", help="only print the table and draw the chart "
                        "of finished variants")
    parser.add_argument("--time-chart", default="", metavar="A,B,C",
                        help="only draw FID against training minutes for these variants, from their runs' "
                             "evals.csv (OUT/fid_vs_minutes.png)")
    parser.add_argument("--grids", default="", metavar="A,B,C",
                        help="only draw the last sample grid of these variants' seed-999 runs side by side "
                             "(OUT/recipes_grids.png)")
    parser.add_argument("--fids-from", default="", metavar="CSV",
                        help="with --grids: the results.csv whose FIDs title the grids (default: OUT/results.csv)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    results = Path(args.out) / "results.csv"
    from dcgan.training.mixed_precision import native_bf16

    # every run is given its precision explicitly, so each row says what it used: for auto, bf16 where
    # the CPU has bf16 instructions (measured 1.46x faster than fp32 on the machine these rows come from)
    precision = args.precision if args.precision != "auto" else "bf16" if native_bf16() else "fp32"
    if args.table:
        report(results, args.epochs, precision)
        return 0
    labels = {"classic": "classic", "grad-clip": "tuned (grad clip 10)", "clip-lr4": "fast (grad clip 10, lr 4e-4)",
              "clip-g8-d4": "fast-g (fast, G at 8e-4)",
              "clip-g12-d4-ema-smooth": "fast-g-ema (G 1.2e-3, EMA, smoothing)",
              "fge-r1-lazy": "fast-g-ema-r1 (fast-g-ema, lazy R1)",
              "fger1-b64": "fast-g-ema-r1-b64, the default (batch 64)"}
    if args.time_chart:
        print(f"chart: {plot_time(Path(args.out), args.time_chart.split(','), labels)}")
        return 0
    if args.grids:
        short = {"grad-clip": "tuned", "clip-lr4": "fast", "clip-g8-d4": "fast-g",
                 "clip-g12-d4-ema-smooth": "fast-g-ema", "fge-r1-lazy": "fast-g-ema-r1",
                 "fger1-b64": "fast-g-ema-r1-b64 (default)"}
        print(f"grids: {plot_grids(Path(args.out), args.grids.split(','), short, Path(args.fids_from or results))}")
        return 0
    names = [n for n in args.only.split(",") if n] or list(VARIANTS)
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {', '.join(VARIANTS)}")
    done = {(r["variant"], r["epochs"], r["precision_mode"], r["seed"]) for r in read_rows(results)}
    seeds = [int(s) for s in args.seed.split(",") if s.strip()]
    for name, seed in [(n, s) for s in seeds for n in names]:
        if (name, str(args.epochs), precision, str(seed)) in done:
            print(f"{name} seed {seed}: done already, skipping")
            continue
        row = run_variant(name, VARIANTS[name], args, precision, seed)
        # rewrite the whole file so rows written before a new column keep their place
        rows = read_rows(results) + [row]
        fields = list(row) + [k for r in rows for k in r if k not in row]
        results.parent.mkdir(parents=True, exist_ok=True)
        tmp = results.with_suffix(".tmp")
        with open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(fields)), restval="")
            w.writeheader()
            w.writerows(rows)
        tmp.replace(results)
        print(f"{name} seed {seed}: FID {row['fid']:.2f} after {args.epochs} epochs ({row['train_minutes']} min)")
    report(results, args.epochs, precision)
    return 0


if __name__ == "__main__":
    sys.exit(main())
