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

# bf16 was 1.46x faster than fp32 on a 2-core AMD EPYC (native bf16) and 0.75x on an Intel Xeon with
# AVX512-BF16 but no AMX: the answer depends on the machine, so it is measured there, not assumed.


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


def machine_key(shape: str) -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    return f"{cpu} | {torch.get_num_threads()} threads | torch {torch.__version__.split('+')[0]} | {shape}"


def choose_precision(name: str, device: torch.device, *, shape: str = "",
                     time_step: Callable[[str], float] | None = None, say: Callable[[str], None] = print) -> str:
    """fp32 or bf16. `auto` on a GPU is fp32 (no GPU measurement yet); on a CPU without bf16
    instructions fp32; on one with them, whichever `time_step(precision)` (seconds per training
    step) finds faster, measured once per machine, thread count and `shape`, then read from the cache."""
    if name != "auto":
        return name
    if device.type != "cpu" or not native_bf16() or time_step is None:
        return "fp32"
    key, path = machine_key(shape), cache_file()
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        fp32, bf16 = time_step("fp32"), time_step("bf16")
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


def step_timer(nets, opt_g, opt_d, rules, make_batch: Callable[[], tuple], *, steps: int = 4, warmup: int = 2):
    """A time_step for choose_precision: seconds per training step of copies of the models on the
    (real, cond) batch `make_batch()` gives, made only when a timing runs (the run's own weights,
    optimisers and random numbers are left as they were)."""
    from .runtime import private_rng
    from .steps import Nets, train_step

    def time_step(precision: str) -> float:
        with private_rng():  # the CPU's and every GPU's generator come back as they were
            batch = make_batch()
            G, D = copy.deepcopy(nets.G), copy.deepcopy(nets.D)
            trial = Nets.plain(G, D)
            og = type(opt_g)(G.parameters(), **{k: v for k, v in opt_g.defaults.items() if k != "params"})
            od = type(opt_d)(D.parameters(), **{k: v for k, v in opt_d.defaults.items() if k != "params"})
            trial_rules = copy.copy(rules)
            trial_rules.bf16 = precision == "bf16"
            for i in range(warmup + steps):
                if i == warmup:
                    start = time.perf_counter()
                train_step(trial, od, og, trial_rules, lambda: batch)
            return (time.perf_counter() - start) / steps

    return time_step
