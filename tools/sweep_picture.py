"""Draw a finished sweep for docs/sweeps.md: each trial's FID in order with the best so far, and FID against lr.

    .venv/bin/python tools/sweep_picture.py outputs/sweep-example docs/sweep_example.png
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep", help="a sweep's folder (its trials.csv)")
    p.add_argument("out", help="the PNG to write")
    args = p.parse_args()
    rows = [r for r in csv.DictReader(open(Path(args.sweep) / "trials.csv")) if r["fid"]]
    if not rows:
        raise SystemExit(f"{args.sweep}/trials.csv has no finished trial")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (history, by_lr) = plt.subplots(1, 2, figsize=(10, 4))
    numbers, fids = [int(r["trial"]) for r in rows], [float(r["fid"]) for r in rows]
    best = [min(fids[:i + 1]) for i in range(len(fids))]
    history.plot(numbers, fids, "o", label="trial")
    history.step(numbers, best, where="post", label="best so far")
    history.set(xlabel="trial", ylabel="FID (classifier features)", title="the study, trial by trial")
    history.legend()
    for batch in sorted({r.get("batch_size", "") for r in rows}):
        mine = [r for r in rows if r.get("batch_size", "") == batch]
        by_lr.plot([float(r["lr"]) for r in mine], [float(r["fid"]) for r in mine], "o",
                   label=f"batch {batch}" if batch else None)
    by_lr.set(xscale="log", xlabel="lr (D's; G's at 3x)", ylabel="FID", title="FID against the learning rate")
    if any(r.get("batch_size") for r in rows):
        by_lr.legend()
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print("wrote", args.out)


if __name__ == "__main__":
    main()
