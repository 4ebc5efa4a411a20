"""How torchrun runs end, over many repeats: every worker's exit code, and any abort at teardown.

    python benchmarks/ddp_exits.py --runs 20                 # 2 CPU processes (gloo), a run that finishes
    python benchmarks/ddp_exits.py --runs 20 --diverge       # the same, rank 1 diverging: both must exit 2
    python benchmarks/ddp_exits.py --runs 20 --write-fail    # rank 0 cannot write its first checkpoint: both exit 3

Each repeat trains a tiny model for 6 iterations on a Fashion-MNIST slice under `torchrun
--nproc-per-node 2` and records torchrun's exit code and whether any worker printed "terminate
called" or died by a signal. A clean teardown gives 20 of 20 with the documented code (0, 2 for
the diverging run, 3 for the failed write: a file-size limit of 100 kB, SIGXFSZ ignored, as a full
disk fails) and no abort.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DIVERGE = """import os, sys
from dcgan.training import loop as t
original, calls = t.train_step, [0]
def train_step(*args, **kwargs):
    calls[0] += 1
    row = original(*args, **kwargs)
    return type(row)(*(v * float("nan") for v in row)) if os.environ["RANK"] == "1" and calls[0] == 4 else row
t.train_step = train_step
from dcgan.cli import main
sys.exit(main(sys.argv[1:]))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--diverge", action="store_true", help="rank 1 turns NaN at its 4th iteration")
    parser.add_argument("--write-fail", action="store_true",
                        help="files capped at 100 kB: rank 0 cannot write its first checkpoint")
    parser.add_argument("--data-root", default="data")
    args = parser.parse_args()
    expected = 2 if args.diverge else 3 if args.write_fail else 0

    def cap():  # inherited by torchrun's workers; only rank 0 writes
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    clean = 0
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "diverge.py"
        script.write_text(DIVERGE)
        entry = [str(script)] if args.diverge else ["-m", "dcgan"]
        for i in range(args.runs):
            out = Path(tmp) / f"run{i}"
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", *entry,
                   "train", "--dataset", "fashion-mnist", "--data-root", args.data_root, "--nz", "16", "--ngf", "8",
                   "--ndf", "8", "--batch-size", "32", "--max-steps", "6", "--log-every", "1", "--snapshot-every", "3",
                   "--checkpoint-every", "3", "--device", "cpu", "--no-progress", "--no-download", "--out", str(out)]
            start = time.perf_counter()
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300,
                               preexec_fn=cap if args.write_fail else None)
            # torchrun exits 1 when a worker failed, and its summary gives each failed worker's code
            codes = [int(m) for m in re.findall(r"exitcode\s*:\s*(-?\d+)", r.stderr)]
            aborted = "terminate called" in r.stderr or "SIGABRT" in r.stderr
            ok = not aborted and (r.returncode == 0 if expected == 0 else codes and set(codes) == {expected})
            clean += bool(ok)
            print(f"run {i + 1}: torchrun {r.returncode}, workers {codes or [0, 0]}"
                  f"{', abort at teardown' if aborted else ''}, {time.perf_counter() - start:.1f} s", flush=True)
            if not ok:
                print(r.stderr[-1500:], flush=True)
    print(f"{clean} of {args.runs} runs ended with exit {expected} and no abort")
    return 0 if clean == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
