"""What a snapshot and a checkpoint cost as a run grows: the history written whole vs appended.

    python benchmarks/history_cost.py                 # at 1k and 100k rows of history
    python benchmarks/history_cost.py --rows 1000,10000,100000 --repeats 5

For each history length it times, in one process, the two ways a run can keep its history on disk
at a snapshot (every 100 iterations here) and a checkpoint:
- whole: history.csv rewritten in full, and the checkpoint carrying every row (both grow with the run);
- appended: the 100 new rows appended to history.csv, and a checkpoint without the history (a
  resume reads history.csv up to its iteration), which is what dcgan does.
The checkpoint holds the default 32 px models' weights and Adam states. Medians of --repeats;
the ratio whole / appended says how much each write costs more when it rewrites everything.
Run it alone: another busy process distorts every number.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from dcgan.checkpoint import save_checkpoint  # noqa: E402
from dcgan.training.history import COLUMNS, write_history_csv  # noqa: E402
from dcgan.models import build_models  # noqa: E402

NEW_ROWS = 100  # rows added between two snapshots


def fake_history(rows: int) -> dict[str, list]:
    rng = random.Random(0)
    return {c: (list(range(1, rows + 1)) if c == "iteration" else [i // 1875 for i in range(rows)]
                if c == "epoch" else [rng.random() for _ in range(rows)]) for c in COLUMNS}


def model_state() -> dict:
    G, D = build_models(nz=100, ngf=64, ndf=64, nc=1, image_size=32)
    state = {"G": G.state_dict(), "D": D.state_dict()}
    for name, model in (("opt_g", G), ("opt_d", D)):
        opt = torch.optim.Adam(model.parameters())
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        opt.step()
        state[name] = opt.state_dict()
    return state


def time_write(folder: Path, history: dict, weights: dict, *, whole: bool) -> tuple[float, float]:
    """Seconds for (the history.csv write, the checkpoint write) of one snapshot."""
    csv = folder / "history.csv"
    rows = len(history["iteration"])
    write_history_csv({c: v[:rows - NEW_ROWS] for c, v in history.items()}, csv)  # what is there before
    start = time.perf_counter()
    write_history_csv(history, csv, start=0 if whole else rows - NEW_ROWS)
    middle = time.perf_counter()
    ckpt = {**weights, **({"history": history} if whole else {"history_rows": rows})}
    save_checkpoint(ckpt, folder / "checkpoints", rows, keep_last=1)
    return middle - start, time.perf_counter() - middle


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000,100000", help="history lengths, comma-separated")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    weights = model_state()
    print(f"{'rows':>8} {'way':>9} {'history.csv ms':>15} {'checkpoint ms':>14} {'ckpt MiB':>9} {'total ms':>9}")
    for rows in (int(r) for r in args.rows.split(",")):
        history = fake_history(rows)
        totals = {}
        for whole in (True, False):
            with tempfile.TemporaryDirectory() as tmp:
                times = [time_write(Path(tmp), history, weights, whole=whole) for _ in range(args.repeats)]
                size = (Path(tmp) / "checkpoints" / "last.pt").stat().st_size / 2**20
            csv_ms, ckpt_ms = (statistics.median(t[i] for t in times) * 1000 for i in (0, 1))
            totals[whole] = csv_ms + ckpt_ms
            print(f"{rows:>8} {'whole' if whole else 'appended':>9} {csv_ms:>15.1f} {ckpt_ms:>14.1f} {size:>9.2f} "
                  f"{csv_ms + ckpt_ms:>9.1f}")
        print(f"{rows:>8} whole / appended: {totals[True] / totals[False]:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
