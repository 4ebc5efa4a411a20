"""The GPU check: every CUDA test, a 64 px run sampled and scored, images/s, torchrun; one report file.

    make gpu-check                                   # on a GPU box: about 8 minutes, report in outputs/gpu-check/
    python benchmarks/gpu_check.py --budget 420      # the same, the throughput part cut to fit 420 s in all
    python benchmarks/gpu_check.py --dry-run         # every part on the CPU at toy sizes (the test suite runs it)

The parts, in order, each timed, each PASS or FAIL with the lines that say why (a failed part does
not stop the others):
1. `pytest -m cuda`: every test that needs a GPU.
2. The default recipe at 64 px on Fashion-MNIST for 1000 iterations (`dcgan train`), then `dcgan
   sample` and `dcgan evaluate --n 2000` on the GPU (the 64 px classifier is trained first if the data
   root has none): seconds of each and the FID.
3. torchrun on cuda:0, 50 iterations: one process (two, over NCCL, where the box has two GPUs).
4. Images/s of the default and of the PyTorch tutorial's loop (benchmarks/throughput.py) at batch 32,
   128 and 512: the default in fp32 and bf16, eagerly and with --compile and --compile --cuda-graphs
   (noting any "skipping cudagraphs" torch logs); the tutorial as it is written (fp32, eager). The
   compiled cells come last and stop when --budget runs out; the report says which were left.
Exit code 0 when every part passed, 1 otherwise; the report is written either way.

It needs nothing from the network: any Python with this repository's requirements runs it as
`python benchmarks/gpu_check.py` (the Makefile target first makes .venv); on a machine without
internet put Fashion-MNIST's four IDX files in data/fashion-mnist/ (Debian's dataset-fashion-mnist
has them in /usr/share/datasets/fashion-mnist/), since torchvision's download cannot run there.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))


class Report:
    """The report's lines, written to disk after every part, so a check cut short still leaves one."""

    def __init__(self, path: Path, started: float, budget: float):
        self.path, self.started, self.budget, self.lines, self.failed = path, started, budget, [], []
        path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)
        self.path.write_text("\n".join(self.lines) + "\n")
        for line in lines:
            print(line, flush=True)

    def part(self, name: str, fn) -> None:
        start = time.perf_counter()
        self.add("", f"## {name}")
        try:
            fn(self)
            verdict = "PASS"
        except Exception as e:  # a failed part is reported; the others still run
            verdict = "FAIL"
            self.failed.append(name)
            self.add("```", *traceback.format_exception_only(type(e), e), "```")
        self.add(f"**{verdict}** in {time.perf_counter() - start:.0f} s "
                 f"({time.perf_counter() - self.started:.0f} s since the start)")

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.started)


def _run(cmd: list[str], timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=max(timeout, 30), env=env, cwd=REPO)
    if r.returncode != 0:
        tail = (r.stdout + r.stderr).strip().splitlines()[-25:]
        raise RuntimeError(f"`{' '.join(cmd[2:] if cmd[1] == '-m' else cmd)}` exited {r.returncode}:\n"
                           + "\n".join(tail))
    return r


def cuda_tests(rep: Report, args) -> None:
    r = _run([sys.executable, "-m", "pytest", "-q", "-m", "cuda", "-p", "no:cacheprovider", "-rs"],
             timeout=rep.left())
    rep.add("```", *[line for line in r.stdout.strip().splitlines()[-12:]], "```")


def run_64px(rep: Report, args, out: Path) -> None:
    run = out / "run64"
    common = ["--device", args.device]
    size = (["--max-steps", "1000"] if not args.dry_run else
            ["--max-steps", "4", "--nz", "16", "--ngf", "8", "--ndf", "8"])
    timings = {}
    start = time.perf_counter()
    _run([sys.executable, "-m", "dcgan", "train", "--dataset", "fashion-mnist", "--image-size", "64",
          "--data-root", args.data_root, "--no-download", "--snapshot-every", "250", "--checkpoint-every", "500",
          "--no-progress", "--out", str(run), *size, *common], timeout=rep.left())
    timings["train"] = time.perf_counter() - start
    start = time.perf_counter()
    _run([sys.executable, "-m", "dcgan", "sample", str(run), "--n", "64", "--out", str(out / "samples64.png"),
          *common], timeout=rep.left())
    timings["sample"] = time.perf_counter() - start
    start = time.perf_counter()
    _run([sys.executable, "-m", "dcgan", "evaluate", str(run), "--n", "2000" if not args.dry_run else "200",
          "--data-root", args.data_root, *common], timeout=rep.left())
    timings["evaluate"] = time.perf_counter() - start
    metrics = json.loads((run / "metrics.json").read_text())
    history = (run / "history.csv").read_text().strip().splitlines()
    fid = next(v for k, v in metrics["metrics"].items() if k.startswith("fid_"))
    rep.add(f"- {len(history) - 1} iterations: train {timings['train']:.0f} s (with start-up and the first "
            f"decode), sample {timings['sample']:.1f} s, evaluate {timings['evaluate']:.0f} s (with the "
            "classifier when it had to be trained)",
            f"- FID ({metrics['n_samples']} samples, {metrics['features']}): **{fid:.2f}**",
            f"- grid: {out / 'samples64.png'}; run folder: {run}")


def torchrun_one(rep: Report, args, out: Path) -> None:
    import torch

    device = "cuda:0" if not args.dry_run else "cpu"
    # two processes (NCCL) where there are two GPUs; on one GPU one process, which forms no process group
    nproc = min(2, torch.cuda.device_count()) if not args.dry_run else 1
    r = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
              "-m", "dcgan", "train", "--dataset", "fashion-mnist", "--data-root", args.data_root, "--no-download",
              "--max-steps", "50" if not args.dry_run else "3", "--nz", "16", "--ngf", "16", "--ndf", "16",
              "--no-progress", "--device", device, "--out", str(out / "torchrun1")], timeout=rep.left())
    done = [line for line in (r.stdout + r.stderr).splitlines() if line.startswith("done:")]  # the dcgan logger's
    if not done:
        raise RuntimeError("torchrun ended without the run's closing line:\n" + (r.stdout + r.stderr)[-2000:])
    rep.add(f"- {nproc} process(es): {done[0]}")


class _CudagraphNotes(logging.Handler):
    """Collects what torch logs about skipping CUDA graphs (a graph break, a CPU tensor, a mutation)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.notes: list[str] = []

    def emit(self, record):
        message = record.getMessage()
        if "skipping cudagraphs" in message:
            self.notes.append(message.strip().splitlines()[0][:200])


def throughput(rep: Report, args) -> None:
    import torch
    import throughput as tp

    batches = (32, 128, 512) if not args.dry_run else (8,)
    eager = [(b, p, "") for b in batches for p in ("fp32", "bf16")]
    compiled = [(b, p, flags) for flags in ("--compile", "--compile --cuda-graphs")
                for b in batches for p in ("fp32", "bf16")] if not args.dry_run else []
    notes = _CudagraphNotes()
    logging.getLogger("torch").addHandler(notes)
    rows, left_out = [], []
    with tempfile.TemporaryDirectory() as tmp:
        ns = argparse.Namespace(data_root=args.data_root, image_size=32, ngf=64 if not args.dry_run else 8,
                                ndf=64 if not args.dry_run else 8, warmup=10 if not args.dry_run else 1,
                                iters=50 if not args.dry_run else 2, workers=2, device=args.device, our_flags="")
        dataset, nc, settings = tp.fashion_mnist_inputs(Path(tmp), ns)
        for b in batches:
            ns.batch_size = b
            rows.append(("tutorial", b, "fp32", "eager", tp.tutorial_loop(dataset, nc, torch.device(args.device), ns), ""))
            rep.add(f"- tutorial, batch {b}: {rows[-1][4]:.0f} images/s")
        for i, (b, precision, flags) in enumerate(eager + compiled):
            # a compiled cell costs its compilation (about a minute): stop while there is room for the report
            if flags and rep.left() < 75:
                left_out.append(f"batch {b} {precision} {flags}")
                continue
            ns.batch_size, ns.our_flags = b, f"--precision {precision} {flags}".strip()
            before = len(notes.notes)
            if flags:
                torch._dynamo.reset()  # each cell compiles for its own shapes and mode
            speed = tp.our_loop(settings, Path(tmp) / f"ours{i}", ns)
            note = "; ".join(sorted(set(notes.notes[before:])))
            rows.append(("default", b, precision, flags or "eager", speed, note))
            rep.add(f"- default, batch {b}, {precision}, {flags or 'eager'}: {speed:.0f} images/s"
                    + (f" ({note})" if note else ""))
    logging.getLogger("torch").removeHandler(notes)
    tutorial = {b: s for loop, b, _, _, s, _ in rows if loop == "tutorial"}
    rep.add("", "| loop | batch | precision | mode | images/s | vs tutorial at that batch | notes |",
            "|---|---|---|---|---|---|---|",
            *[f"| {loop} | {b} | {p} | {mode} | {s:.0f} | {s / tutorial[b]:.2f}x | {note} |"
              for loop, b, p, mode, s, note in rows])
    if left_out:
        rep.add(f"- left out for time (--budget {args.budget:.0f} s): " + ", ".join(left_out))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/gpu-check", help="folder of the report and the runs")
    parser.add_argument("--data-root", default="data", help="where Fashion-MNIST is (default: data, then the "
                                                            "system's dataset-fashion-mnist)")
    parser.add_argument("--budget", type=float, default=480, help="seconds in all; the compiled throughput "
                                                                  "cells stop when it runs out (default: 480)")
    parser.add_argument("--dry-run", action="store_true", help="every part on the CPU at toy sizes")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    import torch

    if not args.dry_run and not torch.cuda.is_available():
        print("gpu-check needs a CUDA GPU (torch.cuda.is_available() is False here); "
              "--dry-run runs its parts on the CPU", file=sys.stderr)
        return 2
    args.device = "cuda" if not args.dry_run else "cpu"
    out = Path(args.out)
    rep = Report(out / "report.md", started, args.budget)
    gpu = (f"{torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"
           if torch.cuda.is_available() else f"no GPU (dry run on {os.cpu_count()} CPU cores)")
    rep.add("# GPU check", "", f"- {time.strftime('%Y-%m-%d %H:%M:%S')}; torch {torch.__version__}; {gpu}",
            f"- command: python benchmarks/gpu_check.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    rep.part("CUDA tests (pytest -m cuda)", lambda r: cuda_tests(r, args))
    rep.part("64 px default run: train, sample, evaluate", lambda r: run_64px(r, args, out))
    rep.part("torchrun", lambda r: torchrun_one(r, args, out))
    rep.part("Images per second", lambda r: throughput(r, args))
    rep.add("", f"## Verdict: {'every part passed' if not rep.failed else 'FAILED: ' + ', '.join(rep.failed)} "
                f"({time.perf_counter() - started:.0f} s)")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
