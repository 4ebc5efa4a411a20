"""Kernels per training iteration, counted by torch.profiler on the CPU: what an iteration costs a GPU in launches.

    python benchmarks/kernels.py                                   # the default, r1-ema and classic
    python benchmarks/kernels.py --recipes r1-ema-b32 --batch 32,128,512 --image-size 64

On a GPU a small model's iteration costs its kernel launches more than its arithmetic: each eager
op is one trip through PyTorch's dispatcher and one kernel launch, some 5-20 microseconds of host
time, while the GPU finishes a 32 px DCGAN layer at batch 32 in a few microseconds. This counts,
for each recipe, the aten ops of one iteration that run a kernel (views, reshapes and empty
allocations left out), on a plain iteration and on a lazy-R1 one (every 16th D step), and the
iterations' average; the count does not depend on the batch (the table shows it at each asked for).
A GPU launches about one kernel per counted op (cuDNN's convolution backward a few, fused Adam one
per parameter list), so count x 10 us is a fair guess at an iteration's launch time there.
No timing is taken: the numbers do not depend on the machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from dcgan.settings.config import Config  # noqa: E402
from dcgan.models import build_models  # noqa: E402
from dcgan.training.stabilisers import EMA  # noqa: E402
from dcgan.training.steps import Nets, StepRules, train_step  # noqa: E402

# ops that only describe memory (a view, a shape, an allocation): no kernel runs on a GPU
NO_KERNEL = {"aten::view", "aten::_unsafe_view", "aten::as_strided", "aten::t", "aten::expand", "aten::reshape",
             "aten::_reshape_alias", "aten::empty", "aten::empty_like", "aten::empty_strided", "aten::detach",
             "aten::alias", "aten::transpose", "aten::permute", "aten::unsqueeze", "aten::squeeze", "aten::slice",
             "aten::select", "aten::resolve_conj", "aten::resolve_neg", "aten::lift_fresh", "aten::flatten",
             "aten::split", "aten::split_with_sizes", "aten::unbind", "aten::chunk", "aten::narrow",
             "aten::result_type", "aten::is_nonzero", "aten::item", "aten::_local_scalar_dense",
             "aten::contiguous", "aten::view_as", "aten::expand_as", "aten::set_", "aten::size", "aten::stride",
             "aten::numel", "aten::dim", "aten::requires_grad_", "aten::_has_compatible_shallow_copy_type",
             "detach", "aten::detach_", "aten::squeeze_", "aten::unsqueeze_", "aten::as_strided_",
             "aten::resize_", "aten::zeros_like", "aten::_to_copy", "aten::to"}


def _inside_foreach(e) -> bool:
    parent = e.cpu_parent
    while parent is not None:
        if parent.name.startswith("aten::_foreach"):
            return True
        parent = parent.cpu_parent
    return False


def kernel_ops(events) -> int:
    """Leaf aten ops (no aten op inside them) that are not pure memory descriptions. A multi-tensor
    (_foreach) op counts once: on a GPU it is one kernel over its list (a CPU runs it tensor by tensor)."""
    count = 0
    for e in events:
        if not e.name.startswith("aten::") or e.name in NO_KERNEL or _inside_foreach(e):
            continue
        if e.name.startswith("aten::_foreach"):
            count += 1
            continue
        if any(c.name.startswith("aten::") and c.name not in NO_KERNEL for c in e.cpu_children):
            continue  # a composite: its children are counted
        count += 1
    return count


def count(recipe: str, batch: int, image_size: int) -> tuple[int, int, int]:
    """(kernels of a plain iteration, of a lazy-R1 iteration, the R1 interval) for one recipe."""
    cfg = Config.from_flat(recipe=recipe, batch_size=batch, image_size=image_size, device="cpu")
    mc, oc, tc = cfg.model, cfg.objective, cfg.train
    G, D = build_models(nz=mc.nz, ngf=mc.ngf, ndf=mc.ndf, nc=1, image_size=image_size, d_norm=cfg.d_norm,
                        spectral_norm=mc.spectral_norm)
    mf = torch.channels_last if tc.channels_last else torch.contiguous_format
    G.to(memory_format=mf)
    D.to(memory_format=mf)
    # foreach: the multi-tensor Adam that torch picks on a GPU by default (a CPU's default is per tensor)
    opt_g = torch.optim.Adam(G.parameters(), lr=tc.rates[0], betas=(tc.beta1, tc.beta2), foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=tc.rates[1], betas=(tc.beta1, tc.beta2), foreach=True)
    ema = EMA(G, oc.ema_decay, oc.ema_rampup) if oc.ema_decay else None
    rules = StepRules(oc, mc.nz)
    real = (torch.rand(batch, 1, image_size, image_size) * 2 - 1).contiguous(memory_format=mf)
    every = rules.penalty_every
    for step in range(2):  # warm-up: optimiser states exist, as in steady state
        train_step(Nets.plain(G, D), opt_d, opt_g, rules, lambda: (real, None), ema=ema, step=step + 1)
    out = []
    for step in (1, every) if every > 1 else (1,):  # a plain step, then a step whose D index is due for R1
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            train_step(Nets.plain(G, D), opt_d, opt_g, rules, lambda: (real, None), ema=ema, step=step)
        out.append(kernel_ops(prof.events()))
    plain = out[0]
    lazy = out[-1] if every > 1 else plain
    return plain, lazy, every


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipes", default="r1-ema-b32,r1-ema,classic")
    p.add_argument("--batch", default="", help="batch sizes, comma-separated (default: each recipe's own)")
    p.add_argument("--image-size", type=int, default=32)
    args = p.parse_args(argv)
    print(f"{'recipe':<12}{'batch':>6}{'plain':>8}{'R1 step':>9}{'R1 every':>9}{'mean':>8}{'launch ms (x10 us)':>20}")
    for recipe in args.recipes.split(","):
        batches = [int(b) for b in args.batch.split(",")] if args.batch else [Config.from_flat(recipe=recipe).train.batch_size]
        for b in batches:
            plain, lazy, every = count(recipe, b, args.image_size)
            mean = (plain * (every - 1) + lazy) / every
            print(f"{recipe:<12}{b:>6}{plain:>8}{lazy:>9}{every:>9}{mean:>8.1f}{mean * 0.01:>20.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
