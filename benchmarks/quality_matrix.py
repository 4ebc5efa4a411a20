"""FID of the default recipe and of the paper's (classic) where users train: sizes 28/32/64 and colour.

    python benchmarks/fetch_emoji.py                      # once: the colour cell's images (data/emoji/)
    python benchmarks/quality_matrix.py --seed 999,1      # every cell, default and classic, two seeds
    python benchmarks/quality_matrix.py --only fmnist-28,fmnist-32 --variants r1-ema,r1-ema-v1 --seed 999
    python benchmarks/quality_matrix.py --only emoji-64 --variants cond --seed 999   # the class-conditional default
    python benchmarks/quality_matrix.py --table           # the table of what is done, and the chart
    python benchmarks/quality_matrix.py --table --results docs/quality_matrix.csv   # the published matrix

A cell is a dataset at one size and a budget of epochs (the same for every variant in it). Each run
is scored on --n samples in one classifier's features: Fashion-MNIST at 28 and 32 px both in the
32 px classifier's (28 px samples are resized to 32 exactly as the 32 px real images are made from
the 28 px originals), so those two cells are comparable; the 64 px cells each in their own
classifier's. A class-conditional G is asked for each class as often as the real images scored
have it, and its class accuracy (samples the classifier puts in the class asked for) is reported.
Results are appended to OUT/results.csv as each run finishes, so an interrupted sweep picks up
where it stopped; runs stay in OUT/<cell>/<variant>-seed<S>/.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcgan.settings.config import Config, DataConfig
from dcgan.settings.recipes import DEFAULT_RECIPE  # noqa: E402

# name -> (data settings, epochs, the size the samples are scored at)
CELLS = {
    "fmnist-28": ({"dataset": "fashion-mnist", "image_size": 28}, 2, 32),
    "fmnist-32": ({"dataset": "fashion-mnist", "image_size": 32}, 2, 32),
    "fmnist-64": ({"dataset": "fashion-mnist", "image_size": 64}, 1, 64),
    "emoji-64": ({"dataset": "folder", "folder": "data/emoji", "image_size": 64, "channels": 3}, 10, 64),
}
# name -> (recipe, settings over it)
VARIANTS = {
    "default": (DEFAULT_RECIPE, {}),
    "classic": ("classic", {}),
    "r1-ema": ("r1-ema", {}),  # the default at batch 64, without the rates' tail and the shorter EMA warm-up
    "default-v1": (DEFAULT_RECIPE, {"model_version": 1}),  # G and D without the start block (28, 40, 56 px)
    "classic-v1": ("classic", {"model_version": 1}),
    "r1-ema-v1": ("r1-ema", {"model_version": 1}),
    # hypotheses on top of r1-ema
    "rpgan-r2": ("r1-ema", {"loss": "rpgan", "r2_weight": 0.1}),  # Huang et al. 2025's loss and penalties
    "nearest": ("r1-ema", {"g_upsample": "nearest"}),  # upsample-then-convolve G (no checkerboard)
    "b32": ("r1-ema", {"batch_size": 32}),  # twice r1-ema's G updates per epoch
    "b32-decay25": ("r1-ema", {"batch_size": 32, "lr_decay": 0.25}),  # the default without its EMA warm-up
    "b32-all": ("r1-ema", {"batch_size": 32, "ndf": 48, "lr_decay": 0.25, "ema_rampup": 0.05}),
    # on top of the default
    "lr15": (DEFAULT_RECIPE, {"lr": 6e-4, "lr_g": 1.8e-3}),  # the default with both rates 1.5x
    "cond": (DEFAULT_RECIPE, {"condition": "class"}),  # the class-conditional default
    "cond-r1-ema": ("r1-ema", {"condition": "class"}),
    "cond-ms1": (DEFAULT_RECIPE, {"condition": "class", "mode_seeking": 1.0}),  # r1-ema's mode-seeking weight
    "cond-ms1-ema9": (DEFAULT_RECIPE, {"condition": "class", "mode_seeking": 1.0, "ema_rampup": 1 / 9}),
    "cond-ms2": (DEFAULT_RECIPE, {"condition": "class", "mode_seeking": 2.0}),
    # equal iterations, not epochs: on a GPU an iteration costs about the same at batch 32 to 128 (its
    # launches, not its arithmetic), so FID at equal iterations is FID per GPU minute (docs/performance.md)
    "it2k-b32": (DEFAULT_RECIPE, {"max_steps": 2000}),
    "it2k-b64": (DEFAULT_RECIPE, {"max_steps": 2000, "batch_size": 64}),
    "it2k-b128": (DEFAULT_RECIPE, {"max_steps": 2000, "batch_size": 128}),
    "it2k-b128-lr2x": (DEFAULT_RECIPE, {"max_steps": 2000, "batch_size": 128, "lr": 8e-4}),  # G follows to 2.4e-3
}
LABELS = {"default": f"default ({DEFAULT_RECIPE})", "classic": "classic (Radford et al.)", "r1-ema": "r1-ema",
          "default-v1": "default, with the 7 x 7 start of model version 1",
          "r1-ema-v1": "r1-ema, with the 7 x 7 start of model version 1",
          "nearest": "r1-ema, G upsampling by nearest + 3x3 conv", "b32": "r1-ema at batch 32",
          "cond": "class-conditional default"}
COLUMNS = ["cell", "variant", "seed", "epochs", "iterations", "features", "fid", "precision", "recall",
           "coverage", "class_accuracy", "train_minutes", "precision_mode"]


def cell_data(cell: str, data_root: str) -> DataConfig:
    settings, _, _ = CELLS[cell]
    return DataConfig(**settings, data_root=data_root)


def scoring_data(cell: str, data_root: str) -> DataConfig:
    """The data whose classifier scores the cell: the cell's own, at the size samples are scored at."""
    data = cell_data(cell, data_root)
    return DataConfig(**{**data.__dict__, "image_size": CELLS[cell][2]})


def score_run(run: Path, cell: str, n: int, data_root: str, device) -> dict:
    """FID, precision, recall and class coverage of a run's last checkpoint in the cell's feature space."""
    from dcgan.data.dataset import to_model_range, to_uint8
    from dcgan.data.decode import resize_arrays
    from dcgan.evaluation.evaluate import classifier_space, conditions_for_eval, generate_for_eval, real_features, score
    from dcgan.evaluation.features import ensure_classifier
    from dcgan.sample import load_generator

    G = load_generator(run, device)
    data = scoring_data(cell, data_root)
    path = ensure_classifier(data, G.nc, epochs=3 if data.dataset != "folder" else 20, device=device)
    space = classifier_space(data, G.nc, path, device)
    real, labels = real_features(space, data, n, with_labels=True)
    cond, intended = conditions_for_eval(G, Config(data=data), n, labels)
    fake = generate_for_eval(G, n, 0, device, cond=cond)
    if fake.shape[-1] != data.image_size:  # the way the real images were made from their originals
        u8 = to_uint8(fake).permute(0, 2, 3, 1).numpy()
        fake = to_model_range(resize_arrays(u8[..., 0] if G.nc == 1 else u8, data.image_size, G.nc))
    m = score(space, real, fake, intended=intended)
    t = space.tag
    return {"features": f"{t} ({data.image_size} px classifier)", "fid": round(m[f"fid_{t}"], 3),
            "precision": round(m[f"precision_{t}"], 3), "recall": round(m[f"recall_{t}"], 3),
            "coverage": round(m.get(f"class_coverage_{t}", float("nan")), 3),
            # a conditional G's samples the classifier puts in the class asked for
            "class_accuracy": round(m[f"class_accuracy_{t}"], 3) if intended is not None else ""}


def run_one(cell: str, variant: str, seed: int, args) -> dict:
    from dcgan.runtime import resolve_device
    from dcgan.training.loop import train

    settings, epochs, _ = CELLS[cell]
    recipe, extra = VARIANTS[variant]
    epochs = args.epochs or epochs
    out = Path(args.out) / cell / f"{variant}-seed{seed}"
    # a checkpoint every 500 iterations, all kept: an earlier one can be scored at a faster recipe's minutes
    cfg = Config.from_flat(recipe=recipe, **settings, **extra, data_root=args.data_root, epochs=epochs,
                           out=str(out), seed=seed, snapshot_every=100, checkpoint_every=500, keep_last=0,
                           progress=args.progress)
    start = time.perf_counter()
    history = train(cfg)
    minutes = (time.perf_counter() - start) / 60
    status = json.loads((out / "status.json").read_text())["status"]
    if status != "finished":  # stopped by a signal: a short run's score must not enter the table
        raise SystemExit(f"{out}: the run ended {status}, not finished; nothing recorded (run the sweep again)")
    scores = score_run(out, cell, args.n, args.data_root, resolve_device("auto"))
    return {"cell": cell, "variant": variant, "seed": seed, "epochs": epochs,
            "iterations": len(history["iteration"]), **scores, "train_minutes": round(minutes, 2),
            "precision_mode": cfg.train.precision}


def read_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(open(path))) if path.is_file() else []


def mean(values) -> float:
    """The mean of the values given; blanks (a column a collected row does not have) are left out."""
    values = [float(v) for v in values if v not in ("", None)]
    return sum(values) / len(values) if values else float("nan")


def shown(rows: list[dict], key: str, digits: int) -> str:
    """The mean of a column over rows, blank where no row has it (a collected run recorded only its FID)."""
    m = mean(r.get(key) for r in rows)
    return "" if m != m else f"{m:.{digits}f}"


def by_cell(rows: list[dict]) -> dict[str, dict[str, dict[str, dict]]]:
    """cell -> variant -> seed -> row (the last row wins when a run was repeated)."""
    out: dict[str, dict[str, dict[str, dict]]] = {}
    for r in rows:
        out.setdefault(r["cell"], {}).setdefault(r["variant"], {})[r["seed"]] = r
    return out


def print_table(path: Path) -> None:
    """A row per cell and variant: FID per seed, its ratio to classic's at the same seed, and the rest."""
    cells = by_cell(read_rows(path))
    print("| cell | variant | epochs (iterations) | FID per seed | mean | vs classic, same seed "
          "| vs default, same seed | precision | recall | coverage | class accuracy | train min | features |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for cell in [c for c in CELLS if c in cells]:
        classic = {s: float(r["fid"]) for s, r in cells[cell].get("classic", {}).items()}
        default = {s: float(r["fid"]) for s, r in cells[cell].get("default", {}).items()}
        for variant in [v for v in VARIANTS if v in cells[cell]]:
            rs = [cells[cell][variant][s] for s in sorted(cells[cell][variant], key=int, reverse=True)]
            seeds = " / ".join(f"{float(r['fid']):.1f}" for r in rs)
            accs = [r["class_accuracy"] for r in rs if r.get("class_accuracy")]
            accuracy = f"{mean(accs):.3f}" if accs else ""
            ratios = ", ".join(f"{float(r['fid']) / classic[r['seed']]:.2f}x" for r in rs if r["seed"] in classic)
            to_default = ", ".join(f"{float(r['fid']) / default[r['seed']]:.2f}x" for r in rs if r["seed"] in default)
            print(f"| {cell} | {variant} | {rs[0]['epochs']} ({rs[0]['iterations']}) | {seeds} "
                  f"(seeds {', '.join(r['seed'] for r in rs)}) | {mean(r['fid'] for r in rs):.1f} | {ratios} "
                  f"| {to_default} "
                  f"| {shown(rs, 'precision', 2)} | {shown(rs, 'recall', 2)} "
                  f"| {shown(rs, 'coverage', 2)} | {accuracy} | {shown(rs, 'train_minutes', 1)} "
                  f"| {rs[0]['features']} |")


def plot(path: Path, out: Path, variants: list[str]) -> Path | None:
    """Grouped bars: mean FID per cell for each variant (a dot per seed, the mean written on the bar), log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    cells = by_cell(read_rows(path))
    names = [c for c in CELLS if c in cells]
    variants = [v for v in variants if any(v in cells[c] for c in names)]
    if not names or not variants:
        return None
    width = 0.8 / len(variants)
    colours = {"default": "C0", "classic": "0.6", "default-v1": "C2", "r1-ema": "C1", "r1-ema-v1": "C2"}
    fig, ax = plt.subplots(figsize=(2.2 * len(names) + 2, 4.2), constrained_layout=True)
    every: list[float] = []
    for j, variant in enumerate(variants):
        for i, cell in enumerate(names):
            rs = cells[cell].get(variant, {})
            if not rs:
                continue
            x = i + (j - (len(variants) - 1) / 2) * width
            fids = [float(r["fid"]) for r in rs.values()]
            m = mean(fids)
            ax.bar(x, m, width * 0.95, color=colours.get(variant, f"C{j + 3}"),
                   label=LABELS.get(variant, variant)
                   if i == next(k for k, c in enumerate(names) if variant in cells[c]) else None)
            ax.plot([x] * len(fids), fids, "k.", ms=4, zorder=3)
            ax.annotate(f"{m:.0f}", (x, m), ha="center", va="top", fontsize=8, color="white",
                        xytext=(0, -2), textcoords="offset points", zorder=4)
            every.extend(fids)
            if variant != "classic" and cells[cell].get("classic"):  # the ratio the matrix is about
                classic = mean(r["fid"] for r in cells[cell]["classic"].values())
                ax.annotate(f"{m / classic:.2f}x\nclassic", (x, max(fids)), ha="center", va="bottom",
                            fontsize=8, xytext=(0, 3), textcoords="offset points")
    labels = []
    for c in names:
        row = next(iter(next(iter(cells[c].values())).values()))
        seeds = max(len(cells[c].get(v, {})) for v in variants)
        labels.append(f"{c}\n{row['epochs']} epoch{'s' if row['epochs'] != '1' else ''}, {seeds} seed{'s' if seeds != 1 else ''}")
    ax.set_xticks(range(len(names)), labels)
    ax.set_yscale("log")
    ax.set_ylim(min(every) / 2, max(every) * 1.5)  # room for the ratios above the bars and every seed's dot
    ax.set_yticks([t for t in (5, 10, 20, 30, 50, 100, 200, 300, 500) if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]])
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_ylabel("FID, lower is better (log scale)")
    ax.set_title("Each recipe after the same epochs, at each size and on colour\n"
                 "FID in each cell's classifier features, 10k samples; dots: one seed each", fontsize=10)
    ax.grid(axis="y", alpha=0.3, which="both")
    ax.legend()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="", help=f"comma-separated cells (default: all of {', '.join(CELLS)})")
    parser.add_argument("--variants", default="default,classic",
                        help=f"comma-separated, of {', '.join(VARIANTS)} (default: default,classic)")
    parser.add_argument("--seed", default="999,1", help="comma-separated seeds, paired across variants")
    parser.add_argument("--epochs", type=int, default=0, help="override every cell's epochs (0: the cell's own)")
    parser.add_argument("--n", type=int, default=10000, help="samples scored per run (default: 10000)")
    parser.add_argument("--out", default="outputs/quality_matrix")
    parser.add_argument("--data-root", default="data")
    parser.add_argument("--chart", default="docs/quality_matrix.png")
    parser.add_argument("--chart-variants", default="default,classic,default-v1", help="the variants drawn")
    parser.add_argument("--table", action="store_true", help="print the table and draw the chart, train nothing")
    parser.add_argument("--results", default="", help="the CSV the runs are appended to and the table and chart "
                        "read (default: OUT/results.csv; docs/quality_matrix.csv collects the published runs)")
    parser.add_argument("--progress", action="store_true", help="progress bars for each run")
    args = parser.parse_args()
    results = Path(args.results) if args.results else Path(args.out) / "results.csv"
    if args.table and not results.is_file():
        parser.error(f"{results} does not exist: give --results the CSV a sweep wrote (or docs/quality_matrix.csv)")
    if not args.table:
        cells = [c for c in (args.only.split(",") if args.only else CELLS) if c]
        variants = [v for v in args.variants.split(",") if v]
        bad = [c for c in cells if c not in CELLS] + [v for v in variants if v not in VARIANTS]
        if bad:
            parser.error(f"unknown cell or variant {bad}; cells: {', '.join(CELLS)}; variants: {', '.join(VARIANTS)}")
        if "emoji-64" in cells and not Path(args.data_root, "emoji").is_dir():
            parser.error(f"{Path(args.data_root, 'emoji')} is missing: run python benchmarks/fetch_emoji.py first")
        seeds = [int(s) for s in args.seed.split(",")]
        done = {(r["cell"], r["variant"], r["seed"], r["epochs"]) for r in read_rows(results)}
        results.parent.mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            for cell in cells:
                for variant in variants:
                    epochs = str(args.epochs or CELLS[cell][1])
                    if (cell, variant, str(seed), epochs) in done:
                        continue
                    print(f"== {cell} {variant} seed {seed}", flush=True)
                    row = run_one(cell, variant, seed, args)
                    print(row, flush=True)
                    new = not results.is_file()
                    if not new:
                        with open(results) as f:
                            stale = next(csv.reader(f), []) != COLUMNS  # written before a new column
                        if stale:
                            old = read_rows(results)
                            with open(results, "w", newline="") as f:
                                w = csv.DictWriter(f, fieldnames=COLUMNS, restval="")
                                w.writeheader()
                                w.writerows(old)
                    with open(results, "a", newline="") as f:
                        w = csv.DictWriter(f, fieldnames=COLUMNS)
                        if new:
                            w.writeheader()
                        w.writerow(row)
    print_table(results)
    chart = plot(results, Path(args.chart), [v for v in args.chart_variants.split(",") if v])
    if chart:
        print(f"chart: {chart}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
