"""The GPU check: the whole suite on the GPU, a 64 px run, two ranks on one GPU, compiled and graphed steps, images/s.

    make gpu-check                                    # on a GPU box, on the Python that has its torch
    python benchmarks/gpu_check.py                    # the same: installs nothing, reaches no network
    python benchmarks/gpu_check.py --parts torchrun,compiled --budget 420     # some parts, in 7 minutes
    python benchmarks/gpu_check.py --dry-run          # every part on the CPU at toy sizes (the suite runs it)

It runs on any Python that imports a CUDA torch and this package's base dependencies (pyproject.toml);
nothing is installed and nothing is downloaded. Fashion-MNIST must be on disk (data/fashion-mnist/, or
Debian's dataset-fashion-mnist in /usr/share/datasets/fashion-mnist/). A part whose optional package is
missing says SKIP and names the extra to install; it does not fail the check.

The parts, in order, each timed and each with its own verdict (PASS, FAIL, SKIP, or CUT when the budget
ran out before or during it; a failed part does not stop the others):
- suite: the whole test suite (pytest), which must fail nothing and run at least MIN_GPU_TESTS of its
  GPU tests (marked `cuda`) on the GPU: a suite that skips its GPU tests does not pass.
- run64: the default recipe at 64 px on Fashion-MNIST for 1000 iterations, then `dcgan sample`.
- fid64: `dcgan evaluate --n 2000` of that run (the eval extra).
- torchrun: two ranks on one GPU over gloo with CUDA tensors (NCCL cannot share a GPU): 6 iterations
  straight against 4, stop, resume 2, bit for bit, and the ranks' agreement; over NCCL too where the
  box has two GPUs.
- compiled: --compile and --compile --cuda-graphs cells of the default at batch 32, 128, 512 in fp32 and
  bf16, each with its own verdict and torch's count of steps run without CUDA graphs (a graphed cell
  that ran without them fails).
- eager: images/s of the default (fp32, bf16) and of the PyTorch tutorial's loop at each batch.
- sweep: `dcgan sweep`'s trials per hour with 1, 2 and 4 workers sharing the GPU (the sweep extra).
Exit codes: 0 every part run passed (skips named in the verdict); 1 a part failed; 2 the check could not
start (no GPU, with the reason; no data); 3 nothing failed but parts were cut or left out (--parts).
The report: OUT/report.md, written after every line, so a check cut short still leaves one.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

PARTS = ("suite", "run64", "fid64", "torchrun", "compiled", "eager", "sweep")
# seconds each part is expected to take on one H100 (docs/performance.md has the dry run's and the estimate)
ESTIMATE = {"suite": 480, "run64": 90, "fid64": 60, "torchrun": 60, "compiled": 540, "eager": 120, "sweep": 150}
MIN_GPU_TESTS = 7  # the suite's tests marked cuda that a one- or two-GPU box runs (8 are marked; one needs 2 GPUs, one 1)
EXTRAS = {"pytest": "test", "torchmetrics": "eval", "torch_fidelity": "eval", "scipy": "eval", "optuna": "sweep"}


class Cut(Exception):
    """The budget ran out before or during a part: not a pass, not a failure."""


class Skip(Exception):
    """A part's optional dependency is missing; the message names the extra."""


class Report:
    """The report's lines, written to disk after every line, and each part's verdict."""

    def __init__(self, path: Path, started: float, budget: float):
        self.path, self.started, self.budget, self.lines = path, started, budget, []
        self.verdicts: dict[str, str] = {}
        path.parent.mkdir(parents=True, exist_ok=True)

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)
        self.path.write_text("\n".join(self.lines) + "\n")
        for line in lines:
            print(line, flush=True)

    def left(self) -> float:
        return self.budget - (time.perf_counter() - self.started)

    def part(self, name: str, title: str, fn) -> None:
        start = time.perf_counter()
        self.add("", f"## {name}: {title}")
        try:
            if self.left() < ESTIMATE[name] / 4:
                raise Cut(f"{self.left():.0f} s of the budget left; this part takes about {ESTIMATE[name]} s "
                          "on an H100")
            fn(self)
            verdict = "PASS"
        except Cut as e:
            verdict = "CUT"
            self.add(f"- cut: {e}")
        except Skip as e:
            verdict = "SKIP"
            self.add(f"- skipped: {e}")
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # SystemExit too: a helper that exits must not take the report with it
            verdict = "FAIL"
            self.add("```", *"".join(traceback.format_exception_only(type(e), e)).strip().splitlines(), "```")
        self.verdicts[name] = verdict
        self.add(f"**{verdict}** in {time.perf_counter() - start:.0f} s "
                 f"({time.perf_counter() - self.started:.0f} s since the start)")


def missing_extra(*modules: str) -> str | None:
    """'pip install "dcgan[EXTRA]"' for the first module not importable here, else None."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: pip install \"dcgan[{EXTRAS[module]}]\""
    return None


def _run(cmd: list[str], rep: Report, env: dict | None = None, cap: float | None = None,
         check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "benchmarks")]), **(env or {})}
    timeout = min(rep.left(), cap or rep.left())
    if timeout < 5:
        raise Cut("no budget left for the next command")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
    except subprocess.TimeoutExpired:
        raise Cut(f"`{_shown(cmd)}` was stopped after {timeout:.0f} s (the budget)") from None
    if check and r.returncode != 0:
        tail = (r.stdout + r.stderr).strip().splitlines()[-25:]
        raise RuntimeError(f"`{_shown(cmd)}` exited {r.returncode}:\n" + "\n".join(tail))
    return r


def _shown(cmd: list[str]) -> str:
    return " ".join(str(c) for c in (cmd[2:] if len(cmd) > 2 and cmd[1] == "-m" else cmd))


# ---- the machine ----

def nvidia_smi() -> str | None:
    """nvidia-smi's plain output (driver version, the CUDA version it supports, GPUs), or None."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        r = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout if r.returncode == 0 else None


def driver_facts(smi: str | None) -> tuple[str | None, str | None]:
    """(driver version, the newest CUDA the driver supports) from nvidia-smi's header."""
    if not smi:
        return None, None
    driver = re.search(r"Driver Version:\s*([\d.]+)", smi)
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", smi)
    return (driver.group(1) if driver else None), (cuda.group(1) if cuda else None)


def why_no_gpu(torch_version: str, torch_cuda: str | None, smi: str | None, visible: str | None) -> str:
    """Why torch sees no GPU here, in one line a person can act on."""
    if smi is None:
        return ("nvidia-smi finds no NVIDIA driver or GPU on this machine (in a container, start it with the "
                "GPUs passed through, e.g. docker run --gpus all)")
    if torch_cuda is None:
        return (f"this torch ({torch_version}) is a CPU-only build, though nvidia-smi sees a GPU: install a CUDA "
                "build of torch for this driver, or run with the Python that has one (make gpu-check PYTHON=...)")
    driver, supported = driver_facts(smi)
    if supported:
        need, have = (tuple(int(p) for p in v.split(".")[:2]) for v in (torch_cuda, supported))
        if need[0] > have[0] or need > have:
            return (f"the driver ({driver}) supports CUDA up to {supported}, but this torch ({torch_version}) was "
                    f"built for CUDA {torch_cuda}: update the driver, or install a torch built for CUDA {supported} "
                    "or older")
    if visible is not None and visible.strip() in ("", "-1", "none", "NoDevFiles"):
        return f"CUDA_VISIBLE_DEVICES is {visible!r}, which hides every GPU: unset it or name a GPU"
    return (f"nvidia-smi sees a GPU and torch {torch_version} was built for CUDA {torch_cuda}, yet "
            "torch.cuda.is_available() is False: check that no other process holds the GPU exclusively, and "
            "torch.cuda.init()'s error for the reason")


def machine_lines(dry_run: bool) -> list[str]:
    import torch

    smi = nvidia_smi()
    driver, supported = driver_facts(smi)
    lines = [f"- torch {torch.__version__} at {Path(torch.__file__).parent}; CUDA build "
             f"{torch.version.cuda or 'none (CPU-only build)'}; cuDNN "
             f"{torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else 'none'}",
             f"- driver {driver or 'none found'} (supports CUDA up to {supported or '-'}); Python "
             f"{sys.version.split()[0]} at {sys.executable}"]
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        lines.append(f"- GPUs: {', '.join(names)}")
    else:
        lines.append(f"- no GPU: {'dry run on the CPU' if dry_run else why_no_gpu(torch.__version__, torch.version.cuda, smi, os.environ.get('CUDA_VISIBLE_DEVICES'))}")
    return lines


# ---- the parts ----

def judge_suite(outcomes: dict[str, dict], min_gpu: int) -> tuple[bool, list[str]]:
    """Whether a suite's outcomes pass: nothing failed, and at least `min_gpu` tests marked cuda ran and
    passed (a suite that skipped them checked nothing on the GPU). With the lines that say so."""
    count = {k: sum(1 for o in outcomes.values() if o["outcome"] == k) for k in ("passed", "failed", "skipped")}
    gpu = {k: sum(1 for o in outcomes.values() if o["cuda"] and o["outcome"] == k) for k in count}
    lines = [f"- {count['passed']} passed, {count['failed']} failed, {count['skipped']} skipped; of the GPU tests: "
             f"{gpu['passed']} passed, {gpu['failed']} failed, {gpu['skipped']} skipped (at least {min_gpu} must pass)"]
    lines += [f"  - failed: {k}" for k, o in outcomes.items() if o["outcome"] == "failed"]
    lines += [f"  - GPU test skipped: {k} ({o.get('why', '')})" for k, o in outcomes.items()
              if o["cuda"] and o["outcome"] == "skipped"]
    return count["failed"] == 0 and gpu["passed"] >= min_gpu and count["passed"] > 0, lines


def suite(rep: Report, args) -> None:
    problem = missing_extra("pytest")
    if problem:
        raise Skip(problem)
    # the dry run runs a slice, the models' tests (the whole suite runs this script)
    selection = ["tests/test_models.py"] if args.dry_run else []
    with tempfile.TemporaryDirectory() as tmp:
        record = Path(tmp) / "outcomes.json"
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "suite_outcomes", *selection]
        # pytest's own exit code is judged below, from the outcomes, with the GPU tests counted
        r = _run(cmd, rep, env={"DCGAN_SUITE_OUTCOMES": str(record)}, check=False)
        if not record.is_file():
            raise RuntimeError("pytest wrote no outcomes:\n" + "\n".join((r.stdout + r.stderr).splitlines()[-25:]))
        outcomes = json.loads(record.read_text())
    ok, lines = judge_suite(outcomes, 0 if args.dry_run else MIN_GPU_TESTS)
    rep.add(*lines, "```", *r.stdout.strip().splitlines()[-3:], "```")
    if not ok:
        raise RuntimeError("the suite did not pass on this machine (see the lines above)")


def run64(rep: Report, args, out: Path) -> None:
    run = out / "run64"
    common = ["--device", args.device]
    size = (["--max-steps", "1000"] if not args.dry_run else
            ["--max-steps", "4", "--nz", "16", "--ngf", "8", "--ndf", "8"])
    start = time.perf_counter()
    _run([sys.executable, "-m", "dcgan", "train", "--dataset", "fashion-mnist", "--image-size", "64",
          "--data-root", args.data_root, "--no-download", "--snapshot-every", "250", "--checkpoint-every", "500",
          "--no-progress", "--out", str(run), *size, *common], rep)
    trained = time.perf_counter() - start
    start = time.perf_counter()
    _run([sys.executable, "-m", "dcgan", "sample", str(run), "--n", "64", "--out", str(out / "samples64.png"),
          *common], rep)
    history = (run / "history.csv").read_text().strip().splitlines()
    rep.add(f"- {len(history) - 1} iterations: train {trained:.0f} s (with start-up and the first decode), "
            f"sample {time.perf_counter() - start:.1f} s; grid: {out / 'samples64.png'}")


def fid64(rep: Report, args, out: Path) -> None:
    problem = missing_extra("torchmetrics", "torch_fidelity", "scipy")
    if problem:
        raise Skip(problem)
    run = out / "run64"
    if not (run / "checkpoints" / "last.pt").is_file():
        raise RuntimeError(f"no 64 px run to score at {run} (the run64 part did not finish)")
    start = time.perf_counter()
    _run([sys.executable, "-m", "dcgan", "evaluate", str(run), "--n", "2000" if not args.dry_run else "200",
          "--data-root", args.data_root, "--device", args.device], rep)
    metrics = json.loads((run / "metrics.json").read_text())
    fid = next(v for k, v in metrics["metrics"].items() if k.startswith("fid_"))
    rep.add(f"- FID ({metrics['n_samples']} samples, {metrics['features']}): **{fid:.2f}**; "
            f"evaluate {time.perf_counter() - start:.0f} s (with the classifier when it had to be trained)")


def _torchrun(rep: Report, args, out: Path, nproc: int, backend: str, *extra: str) -> str:
    r = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(nproc),
              "-m", "dcgan", "train", "--dataset", "fashion-mnist", "--data-root", args.data_root, "--no-download",
              "--nz", "16", "--ngf", "16", "--ndf", "16", "--batch-size", "32", "--snapshot-every", "2",
              "--checkpoint-every", "2", "--no-progress", "--device", args.device, "--ddp-backend", backend,
              "--deterministic", "--lr-decay", "0", "--out", str(out), *extra], rep, env={"OMP_NUM_THREADS": "1"})
    return r.stdout + r.stderr


def torchrun(rep: Report, args, out: Path) -> None:
    import torch

    from dcgan.checkpoint import load_checkpoint

    backends = ["gloo"] + (["nccl"] if not args.dry_run and torch.cuda.device_count() >= 2 else [])
    for backend in backends:
        straight, stopped = out / f"torchrun-{backend}-straight", out / f"torchrun-{backend}-resumed"
        log = _torchrun(rep, args, straight, 2, backend, "--max-steps", "6")
        _torchrun(rep, args, stopped, 2, backend, "--max-steps", "4")
        log_resumed = _torchrun(rep, args, stopped, 2, backend, "--max-steps", "6", "--resume", str(stopped))
        a, b = load_checkpoint(straight), load_checkpoint(stopped)
        same_history = (straight / "history.csv").read_text() == (stopped / "history.csv").read_text()
        same_weights = all(torch.equal(a[n][k], b[n][k]) for n in ("G", "D") for k in a[n])
        ranks = len(b.get("rng_ranks") or [])
        agree = [line for line in (log + log_resumed).splitlines() if "replicas agree on every weight" in line]
        where = "one GPU" if backend == "gloo" and not args.dry_run else "two GPUs" if backend == "nccl" else "the CPU"
        rep.add(f"- 2 ranks over {backend} on {where}: 6 straight vs 4 + resume 2: history "
                f"{'equal' if same_history else 'DIFFERS'}, weights {'equal bit for bit' if same_weights else 'DIFFER'}; "
                f"{ranks} RNG states in the checkpoint; agreement lines: {len(agree)} of 2")
        if not (same_history and same_weights and ranks == 2 and len(agree) == 2):
            raise RuntimeError(f"two ranks over {backend}: the resumed run is not the uninterrupted one, or the "
                               "ranks did not agree (see the line above)")


def _throughput_args(args, tmp: Path):
    import throughput as tp

    ns = argparse.Namespace(data_root=args.data_root, image_size=32, ngf=64 if not args.dry_run else 8,
                            ndf=64 if not args.dry_run else 8, warmup=10 if not args.dry_run else 1,
                            iters=50 if not args.dry_run else 2, workers=2, device=args.device, our_flags="")
    dataset, nc, settings = tp.fashion_mnist_inputs(tmp, ns)
    return tp, ns, dataset, nc, settings


def compiled(rep: Report, args, out: Path) -> None:
    import torch

    from dcgan.training.compiled import cudagraph_skips, toolchain_problem

    problem = toolchain_problem(args.device.split(":")[0])
    if problem:
        raise Skip(f"--compile needs {problem}")
    batches = (32, 128, 512) if not args.dry_run else (8,)
    cells = [(flags, b, p) for flags in ("--compile", "--compile --cuda-graphs") for b in batches
             for p in (("fp32", "bf16") if not args.dry_run else ("fp32",))]
    failed, cut, rows = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        tp, ns, _, _, settings = _throughput_args(args, Path(tmp))
        for i, (flags, b, precision) in enumerate(cells):
            name = f"batch {b}, {precision}, {flags}"
            if rep.left() < 60:  # a cell costs its compilation, most of a minute
                cut.append(name)
                rep.add(f"- {name}: **CUT** (budget)")
                continue
            ns.batch_size, ns.our_flags = b, f"--precision {precision} {flags}"
            torch._dynamo.reset()  # each cell compiles for its own shapes and mode
            skips = cudagraph_skips()
            start = time.perf_counter()
            try:
                speed = tp.our_loop(settings, Path(tmp) / f"cell{i}", ns)
            except KeyboardInterrupt:
                raise
            except BaseException as e:
                failed.append(name)
                rep.add(f"- {name}: **FAIL**: {type(e).__name__}: {str(e).strip().splitlines()[0][:300] if str(e).strip() else ''}")
                continue
            skipped = cudagraph_skips() - skips
            graphs_missing = "--cuda-graphs" in flags and skipped and args.device.startswith("cuda")
            verdict = "FAIL" if graphs_missing else "PASS"
            if graphs_missing:
                failed.append(name)
            rows.append((b, precision, flags, speed, skipped))
            rep.add(f"- {name}: **{verdict}**, {speed:.0f} images/s, {time.perf_counter() - start:.0f} s with its "
                    f"compilation; steps run without CUDA graphs (torch's cudagraph_skips): {skipped}")
    rep.add("", "| batch | precision | mode | images/s | cudagraph skips |", "|---|---|---|---|---|",
            *[f"| {b} | {p} | {f} | {s:.0f} | {k} |" for b, p, f, s, k in rows])
    if failed:
        raise RuntimeError("cells failed: " + "; ".join(failed))
    if cut:
        raise Cut("cells left for time: " + "; ".join(cut))


def eager(rep: Report, args, out: Path) -> None:
    import torch

    batches = (32, 128, 512) if not args.dry_run else (8,)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tp, ns, dataset, nc, settings = _throughput_args(args, Path(tmp))
        for b in batches:
            if rep.left() < 20:
                raise Cut(f"stopped before batch {b} (budget)")
            ns.batch_size, ns.our_flags = b, ""
            tutorial = tp.tutorial_loop(dataset, nc, torch.device(args.device), ns)
            rows.append(("tutorial", b, "fp32", tutorial, tutorial))
            for precision in ("fp32", "bf16"):
                ns.our_flags = f"--precision {precision}"
                rows.append(("default", b, precision, tp.our_loop(settings, Path(tmp) / f"b{b}{precision}", ns), tutorial))
            rep.add(f"- batch {b}: " + ", ".join(f"{loop} {p} {s:.0f}" for loop, bb, p, s, _ in rows if bb == b)
                    + " images/s")
    rep.add("", "| loop | batch | precision | images/s | vs tutorial at that batch |", "|---|---|---|---|---|",
            *[f"| {loop} | {b} | {p} | {s:.0f} | {s / t:.2f}x |" for loop, b, p, s, t in rows])


def sweep(rep: Report, args, out: Path) -> None:
    """dcgan sweep's trials per hour with 1, 2 and 4 workers sharing the GPU (docs/performance.md's CPU table)."""
    problem = missing_extra("optuna", "torchmetrics", "torch_fidelity", "scipy")
    if problem:
        raise Skip(problem)
    import sweep_rate

    from dcgan.evaluation.features import ensure_classifier
    from dcgan.settings.config import DataConfig

    data = DataConfig(data_root=args.data_root, download=False)
    classifier = ensure_classifier(data, 1, out / "classifier.pt", epochs=1, device=args.device)
    workers, trials, steps = ((1, 2, 4), 8, 200) if not args.dry_run else ((1, 2), 2, 10)
    if rep.left() < 60 * len(workers):
        raise Cut("too little budget left for the sweeps")
    rows = sweep_rate.rates(list(workers), trials=trials, max_steps=steps, eval_n=500 if not args.dry_run else 100,
                            data_root=args.data_root, device=args.device, classifier=classifier,
                            say=lambda line: rep.add(f"- {line}"))
    rep.add("", *sweep_rate.table(rows, trials))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="outputs/gpu-check", help="folder of the report and the runs")
    parser.add_argument("--data-root", default="data", help="where Fashion-MNIST is (default: data, then the "
                                                            "system's dataset-fashion-mnist)")
    parser.add_argument("--budget", type=float, default=1800,
                        help="seconds in all (default: 1800); parts that do not fit are CUT, and the check "
                             "then does not pass")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"which parts, comma-separated (default: all: "
                                                                  f"{','.join(PARTS)})")
    parser.add_argument("--dry-run", action="store_true", help="every part on the CPU at toy sizes")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    chosen = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        print(f"--parts: {', '.join(unknown)} unknown; the parts are {', '.join(PARTS)}", file=sys.stderr)
        return 2
    try:
        import torch
    except ImportError:
        print(f"gpu-check needs torch in this Python ({sys.executable}): run it with the Python that has the "
              "box's torch (make gpu-check PYTHON=/path/to/python), or make setup first", file=sys.stderr)
        return 2
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu-check needs a CUDA GPU, and torch sees none: " + why_no_gpu(
            torch.__version__, torch.version.cuda, nvidia_smi(), os.environ.get("CUDA_VISIBLE_DEVICES"))
            + " (--dry-run runs the parts on the CPU)", file=sys.stderr)
        return 2
    from dcgan.data.sources import _idx_dirs

    if not any((d / "train-images-idx3-ubyte.gz").is_file() or (d / "train-images-idx3-ubyte").is_file()
               for d in _idx_dirs("fashion-mnist", Path(args.data_root))):
        print(f"gpu-check needs Fashion-MNIST on disk and found none under {args.data_root}/fashion-mnist or "
              "/usr/share/datasets/fashion-mnist: apt-get install dataset-fashion-mnist, or copy its four IDX "
              f"files into {args.data_root}/fashion-mnist/ (nothing is downloaded here)", file=sys.stderr)
        return 2
    args.device = "cuda" if not args.dry_run else "cpu"
    out = Path(args.out)
    rep = Report(out / "report.md", started, args.budget)
    rep.add("# GPU check", "", f"- {time.strftime('%Y-%m-%d %H:%M:%S')}; budget {args.budget:.0f} s",
            *machine_lines(args.dry_run),
            f"- command: python benchmarks/gpu_check.py {' '.join(argv if argv is not None else sys.argv[1:])}")
    titles = {"suite": ("the whole test suite", lambda r: suite(r, args)),
              "run64": ("64 px default run: train and sample", lambda r: run64(r, args, out)),
              "fid64": ("64 px run: FID", lambda r: fid64(r, args, out)),
              "torchrun": ("two ranks on one GPU: train, resume bit for bit, agreement", lambda r: torchrun(r, args, out)),
              "compiled": ("compiled and CUDA-graphed steps", lambda r: compiled(r, args, out)),
              "eager": ("images per second, eager", lambda r: eager(r, args, out)),
              "sweep": ("sweep trials per hour with 1, 2 and 4 workers on one GPU", lambda r: sweep(r, args, out))}
    for name in PARTS:
        if name in chosen:
            rep.part(name, *titles[name])
    left_out = [p for p in PARTS if p not in chosen]
    v = rep.verdicts
    failed = [p for p in v if v[p] == "FAIL"]
    cut = [p for p in v if v[p] == "CUT"]
    skipped = [p for p in v if v[p] == "SKIP"]
    if failed:
        verdict, code = f"FAILED: {', '.join(failed)}", 1
    elif cut or left_out:
        verdict, code = ("INCOMPLETE, not a pass: " + "; ".join(
            ([f"cut for time: {', '.join(cut)}"] if cut else []) + ([f"not run: {', '.join(left_out)}"] if left_out else []))), 3
    else:
        verdict, code = "every part run passed", 0
    if skipped and not failed:
        verdict += f" (skipped for a missing extra: {', '.join(skipped)})"
    rep.add("", f"## Verdict: {verdict} ({time.perf_counter() - started:.0f} s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
