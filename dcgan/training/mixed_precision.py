"""--precision auto: time fp32 and bf16 training steps once per machine and model shape, and remember."""

from __future__ import annotations

import copy
import json
import os
import platform
import time
from pathlib import Path
from typing import Callable

import torch


# Whether bf16 beats fp32 depends on the machine (faster on some CPUs, slower on others: docs/performance.md),
# so it is measured where the run trains, not assumed.


def cache_file() -> Path:
    root = os.environ.get("DCGAN_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dcgan"
    return Path(root) / "precision.json"


def native_bf16() -> bool:
    """Whether the CPU has bf16 instructions; without them bf16 is emulated and never faster."""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # private probes: without them, stay with fp32
        return False


def bf16_can_help(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.get_device_capability(device)[0] >= 8  # Ampere on
    return device.type == "cpu" and native_bf16()


def machine_key(shape: str, device: torch.device | None = None) -> str:
    """What a measurement holds for: the GPU's name (and CUDA's version) on a GPU, else the CPU's
    model and thread count; torch's version; the model's shape."""
    if device is not None and device.type == "cuda":
        from ..runtime import cuda_index

        name = torch.cuda.get_device_name(cuda_index(device))
        return f"{name} | CUDA {torch.version.cuda} | torch {torch.__version__.split('+')[0]} | {shape}"
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu} | {torch.get_num_threads()} threads | torch {torch.__version__.split('+')[0]} | {shape}"


ROUNDS = 3  # timings of each precision, taken in turns; the fastest of each counts


def choose_precision(name: str, device: torch.device, *, shape: str = "",
                     time_step: Callable[[str], float] | None = None, say: Callable[[str], None] = print,
                     deterministic: bool = False) -> str:
    """fp32 or bf16. `auto`: where bf16 can be fast (a CPU with bf16 instructions, a GPU with bf16
    tensor cores), whichever `time_step(precision)` (seconds per training step) finds faster,
    measured once per machine (the GPU's name, or the CPU's model and thread count) and `shape`,
    then read from the cache; elsewhere fp32 (emulated bf16 is never faster). On a GPU a small
    model's step is mostly kernel launches, which bf16 does not shorten: it has to earn its place.
    Under `deterministic`, auto is fp32: a run meant to repeat must not hang on a timing."""
    if name != "auto":
        return name
    if deterministic:
        return "fp32"
    if time_step is None or not bf16_can_help(device):
        return "fp32"
    key, path = machine_key(shape, device), cache_file()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        # in turns, so a clock that speeds up or slows down (boost, a neighbour) weighs on both alike
        rounds = [(time_step("fp32"), time_step("bf16")) for _ in range(ROUNDS)]
        fp32, bf16 = min(r[0] for r in rounds), min(r[1] for r in rounds)
        known[key] = {"precision": "bf16" if bf16 < fp32 else "fp32", "bf16_speedup": round(fp32 / bf16, 3)}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(known, indent=1))
            tmp.replace(path)
        except OSError:  # a read-only home: measure again next time
            pass
        say(f"precision auto: {known[key]['precision']} (bf16 measured {known[key]['bf16_speedup']}x the speed of "
            f"fp32 on this machine; remembered in {path})")
    return known[key]["precision"]


def step_timer(nets, opt_g, opt_d, rules, make_batch: Callable[[], tuple], *, steps: int = 10, warmup: int = 3,
               min_seconds: float = 0.2):
    """A time_step for choose_precision: seconds per training step of copies of the models on the
    (real, cond) batch `make_batch()` gives, made only when a timing runs (the run's own weights,
    optimisers and random numbers, the GPU's generators among them, are left as they were): at least
    `steps` steps and `min_seconds` (a GPU step of a few milliseconds is otherwise all noise). On a
    GPU the clock is read only after the queued kernels have finished."""
    from ..runtime import private_rng
    from .steps import Nets, train_step

    def time_step(precision: str) -> float:
        with private_rng():  # the CPU's and every GPU's generator come back as they were
            batch = make_batch()
            G, D = copy.deepcopy(nets.G), copy.deepcopy(nets.D)
            trial = Nets.plain(G, D)
            og = type(opt_g)(G.parameters(), **{k: v for k, v in opt_g.defaults.items() if k != "params"})
            od = type(opt_d)(D.parameters(), **{k: v for k, v in opt_d.defaults.items() if k != "params"})
            trial_rules = copy.copy(rules)
            trial_rules.bf16, trial_rules.cuda_graphs = precision == "bf16", False
            on_gpu = batch[0].device.type == "cuda"
            for _ in range(warmup):
                train_step(trial, od, og, trial_rules, lambda: batch)
            if on_gpu:  # the warm-up's kernels are done before the clock starts
                torch.cuda.synchronize(batch[0].device)
            start, done = time.perf_counter(), 0
            while True:
                for _ in range(steps):
                    train_step(trial, od, og, trial_rules, lambda: batch)
                done += steps
                if on_gpu:  # kernels run asynchronously: the steps end when the GPU is done with them
                    torch.cuda.synchronize(batch[0].device)
                elapsed = time.perf_counter() - start
                if elapsed >= min_seconds:
                    return elapsed / done

    return time_step
