"""Seconds per training iteration and per epoch of each recipe, as ratios to a baseline recipe, in one process.

    python benchmarks/recipe_cost.py                     # r1-ema-b32 (the default), r1-ema and classic
    python benchmarks/recipe_cost.py --recipes r1-ema,sngan,classic --iters 300 --repeats 3
    python benchmarks/recipe_cost.py --recipes r1-ema@32,r1-ema@28,r1-ema@28:v1   # at 28 px, and the older network
    python benchmarks/recipe_cost.py --recipes r1-ema,r1-ema/b48,r1-ema/b32       # at other batch sizes

Each recipe trains the default run (Fashion-MNIST 32x32 at the recipe's batch size, snapshots every
100 iterations, as `make train`) twice: for --short and for --short + --iters iterations. The difference divided
by --iters is the steady-state cost of one iteration (model building, the first compile of the
data cache and warm-up cancel out). The recipes take turns, --repeats times, so a slow spell of
the machine hits all of them; the median per recipe is reported with its ratio to the first, per
iteration and per image (an epoch's cost: recipes with a smaller batch make more iterations per epoch).
Run it alone on the machine: another busy process distorts every number.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcgan.settings.config import Config  # noqa: E402
from dcgan.settings.compat import RENAMED, RETIRED_AS  # noqa: E402
from dcgan.settings.recipes import RECIPES  # noqa: E402
from dcgan.training.mixed_precision import native_bf16  # noqa: E402
from dcgan.training.loop import train  # noqa: E402


def parse(entry: str) -> tuple[str, dict]:
    """"RECIPE[/bBATCH][@SIZE][:vN]" -> (recipe, settings): a recipe at a batch size and an image size, with an
    older model version."""
    entry, _, version = entry.partition(":v")
    entry, _, size = entry.partition("@")
    recipe, _, batch = entry.partition("/b")
    return recipe, {**({"image_size": int(size)} if size else {}), **({"model_version": int(version)} if version else {}),
                    **({"batch_size": int(batch)} if batch else {})}


def timed_run(entry: str, steps: int, out: Path, args, precision: str) -> float:
    recipe, extra = parse(entry)
    cfg = Config.from_flat(recipe=recipe, **extra, dataset="fashion-mnist", data_root=args.data_root, max_steps=steps,
                           out=str(out), snapshot_every=100, checkpoint_every=10**9, keep_last=0, progress=False,
                           precision=precision, seed=999)
    start = time.perf_counter()
    train(cfg)
    return time.perf_counter() - start


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--recipes", default="r1-ema-b32,r1-ema,classic",
                   help="comma-separated; ratios are to the first (default: r1-ema-b32,r1-ema,classic); "
                        "the ablation's steps "
                        "(tuned, fast-g-ema-r1, ...) are accepted by their old names")
    p.add_argument("--iters", type=int, default=200, help="iterations timed per run (default: 200)")
    p.add_argument("--short", type=int, default=20, help="the short run subtracted (default: 20)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--data-root", default="data")
    p.add_argument("--precision", default="auto", help="auto (bf16 where the CPU has it, as the benchmarks), "
                                                        "fp32 or bf16")
    args = p.parse_args()
    recipes = [r for r in args.recipes.split(",") if r]
    unknown = [r for r in recipes if parse(r)[0] not in {**RECIPES, **RENAMED, **RETIRED_AS}]
    if unknown:
        p.error(f"unknown recipes {unknown}; choose from {', '.join(RECIPES)} (or an ablation step's old name)")
    precision = args.precision if args.precision != "auto" else "bf16" if native_bf16() else "fp32"
    per_iter: dict[str, list[float]] = {r: [] for r in recipes}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for recipe in recipes:
                out = Path(tmp) / f"{recipe}-{repeat}"
                short = timed_run(recipe, args.short, out / "short", args, precision)
                long = timed_run(recipe, args.short + args.iters, out / "long", args, precision)
                per_iter[recipe].append((long - short) / args.iters)
                print(f"repeat {repeat + 1}: {recipe}: {per_iter[recipe][-1] * 1000:.1f} ms per iteration",
                      flush=True)
    batch = {r: Config.from_flat(recipe=parse(r)[0], **parse(r)[1]).train.batch_size for r in recipes}
    base = statistics.median(per_iter[recipes[0]])
    base_image = base / batch[recipes[0]]
    print(f"\n{precision}, {args.iters} iterations per run, median of {args.repeats}")
    print(f"| recipe | batch | ms per iteration | ratio to {recipes[0]} | ms per 1000 images (an epoch: 60k) "
          f"| ratio to {recipes[0]} |\n|---|---|---|---|---|---|")
    for recipe in recipes:
        m = statistics.median(per_iter[recipe])
        per_image = m / batch[recipe]
        print(f"| {recipe} | {batch[recipe]} | {m * 1000:.1f} | {m / base:.2f}x | {per_image * 1e6:.0f} "
              f"| {per_image / base_image:.2f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
