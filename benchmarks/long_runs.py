"""FID during long runs, from their evals.csv: one line per run against epochs, best point marked.

    dcgan train --epochs 20 --eval-every 468 --out outputs/fastgema-20ep          # the default recipe
    dcgan train --recipe fast-g --epochs 20 --eval-every 468 --out outputs/fastg-20ep
    python benchmarks/long_runs.py outputs/fastgema-20ep=fast-g-ema outputs/fastg-20ep=fast-g \\
        --out docs/long_runs_20_epochs.png

Each argument is RUN_FOLDER[=LABEL]. Runs that stopped early (a divergence) end where they stopped.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def read_run(folder: Path) -> tuple[list[float], list[float]]:
    """(epochs, FIDs) from a run folder's evals.csv; iterations per epoch from its planned length
    (status.json) over its epochs (config.json), so a run stopped early keeps its scale."""
    evals, config, status = folder / "evals.csv", folder / "config.json", folder / "status.json"
    for path in (evals, config, status):
        if not path.is_file():
            raise SystemExit(f"{path} is missing: train with --eval-every N so the run writes evals.csv")
    per_epoch = json.loads(status.read_text())["planned"] / json.loads(config.read_text())["train"]["epochs"]
    rows = list(csv.DictReader(open(evals)))
    key = next(k for k in rows[0] if k.startswith("fid_"))
    return [int(r["iteration"]) / per_epoch for r in rows], [float(r[key]) for r in rows]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="RUN_FOLDER[=LABEL]")
    p.add_argument("--out", default="outputs/long_runs.png")
    p.add_argument("--title", default="FID during long runs (Fashion-MNIST 32x32, 2000 samples per point)")
    args = p.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    for i, spec in enumerate(args.runs):
        folder, _, label = spec.partition("=")
        epochs, fids = read_run(Path(folder))
        best = min(range(len(fids)), key=fids.__getitem__)
        ax.plot(epochs, fids, color=f"C{i}", marker="o", ms=3,
                label=f"{label or Path(folder).name}: best {fids[best]:.1f} at epoch {epochs[best]:.0f}, "
                      f"last {fids[-1]:.1f}")
        ax.plot([epochs[best]], [fids[best]], "*", color=f"C{i}", ms=12)
        print(f"{label or folder}: " + ", ".join(f"{e:.0f}: {f:.1f}" for e, f in zip(epochs, fids)))
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("FID, classifier features (log)")
    ax.set_title(args.title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"chart: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
