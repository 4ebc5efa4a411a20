"""Trials per hour of `dcgan sweep` with 1, 2 and 4 workers on this machine, as ratios to one worker.

    python benchmarks/sweep_rate.py                              # 1, 2, 4 workers; 8 trials of 200 iterations each
    python benchmarks/sweep_rate.py --workers 1,2 --trials 4 --max-steps 100
    python benchmarks/sweep_rate.py --device cuda                # on a GPU box: workers share the GPU

Each worker count runs a fresh sweep of --trials trials (Fashion-MNIST 32x32, the default recipe, --max-steps
iterations each, FID on --eval-n samples in the classifier's features, a random sampler over lr) and the whole
command is timed, start-up included: what a user waits for. The classifier is trained first when missing,
outside the timing. Run it alone on the machine: another busy process distorts every number.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from dcgan.evaluation.features import default_classifier_path, ensure_classifier  # noqa: E402
from dcgan.settings.config import DataConfig  # noqa: E402


def rates(workers: list[int], *, trials: int, max_steps: int, eval_n: int, data_root: str, device: str,
          classifier: Path, say=print) -> list[tuple[int, float, float]]:
    """(workers, minutes, trials per hour) of a fresh sweep for each worker count, the whole command timed."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in workers:
            spec = Path(tmp) / "spec.json"
            spec.write_text(json.dumps({
                "space": {"lr": {"low": 1e-4, "high": 1e-3, "log": True}}, "sampler": "random", "trials": trials,
                "eval_n": eval_n, "settings": {"data-root": data_root, "max-steps": max_steps, "download": False,
                                               "snapshot-every": 100, "checkpoint-every": max_steps,
                                               "device": device, "classifier": str(classifier)}}))
            start = time.perf_counter()
            r = subprocess.run([sys.executable, "-m", "dcgan", "sweep", str(spec), "--out", f"{tmp}/w{n}", "--workers",
                                str(n)], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
            minutes = (time.perf_counter() - start) / 60
            if r.returncode != 0:
                raise RuntimeError(f"the sweep with {n} workers failed:\n{r.stderr[-3000:]}")
            rows.append((n, minutes, trials / minutes * 60))
            say(f"{n} workers: {trials} trials in {minutes:.2f} min")
    return rows


def table(rows: list[tuple[int, float, float]], trials: int) -> list[str]:
    base = rows[0][2]
    return [f"| workers | minutes for {trials} trials | trials per hour | vs {rows[0][0]} worker |", "|---|---|---|---|",
            *[f"| {n} | {minutes:.2f} | {rate:.1f} | {rate / base:.2f}x |" for n, minutes, rate in rows]]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workers", default="1,2,4", help="worker counts to time (default: 1,2,4)")
    p.add_argument("--trials", type=int, default=8, help="trials per sweep (default: 8)")
    p.add_argument("--max-steps", type=int, default=200, help="iterations per trial (default: 200)")
    p.add_argument("--eval-n", type=int, default=1000, help="samples per trial's FID (default: 1000)")
    p.add_argument("--data-root", default="data")
    p.add_argument("--device", default="cpu", help="cpu (default) or cuda: where every worker trains")
    args = p.parse_args()
    data = DataConfig(data_root=args.data_root)
    classifier = ensure_classifier(data, 1, default_classifier_path(data, 1), device=args.device)
    rows = rates([int(w) for w in args.workers.split(",")], trials=args.trials, max_steps=args.max_steps,
                 eval_n=args.eval_n, data_root=args.data_root, device=args.device, classifier=classifier)
    print("", *table(rows, args.trials), sep="\n")


if __name__ == "__main__":
    main()
