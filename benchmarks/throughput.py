"""Training throughput: our loop vs a plain tutorial-style loop, same model and config, one process.

    python benchmarks/throughput.py                 # Fashion-MNIST 32x32, ngf = ndf = 64, batch 128
    python benchmarks/throughput.py --iters 100 --ngf 32

The tutorial loop is the PyTorch DCGAN tutorial's: a torchvision dataset with per-item transforms,
a DataLoader with 2 workers, D ending in Sigmoid with nn.BCELoss, and .item() every iteration.
Both loops are timed in steady state (after warm-up iterations) and reported in images/s.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcgan.config import Config  # noqa: E402
from dcgan.models import build_models  # noqa: E402
from dcgan.sources import _idx_dirs  # noqa: E402
from dcgan.train import train  # noqa: E402


def tutorial_loop(root: Path, args) -> float:
    """Images/s of the tutorial's loop, timed from iteration `warmup` to `warmup + iters`."""
    import torchvision.datasets as dset
    import torchvision.transforms as T

    dataset = dset.FashionMNIST(str(root), train=True, download=False, transform=T.Compose([
        T.Resize(args.image_size), T.ToTensor(), T.Normalize((0.5,), (0.5,))]))
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True,
                                         num_workers=2, drop_last=True)
    torch.manual_seed(0)
    netG, netD_logits = build_models(nz=100, ngf=args.ngf, ndf=args.ndf, nc=1, image_size=args.image_size)
    netD = nn.Sequential(netD_logits, nn.Sigmoid())
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    i, start = 0, None
    while True:
        for data, _ in loader:
            if i == args.warmup:
                start = time.perf_counter()
            if i == args.warmup + args.iters:
                return args.iters * args.batch_size / (time.perf_counter() - start)
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            real = data
            b = real.size(0)
            label = torch.full((b,), 1.0)
            output = netD(real).view(-1)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()
            noise = torch.randn(b, 100, 1, 1)
            fake = netG(noise)
            label.fill_(0.0)
            output = netD(fake.detach()).view(-1)
            errD_fake = criterion(output, label)
            errD_fake.backward()
            D_G_z1 = output.mean().item()
            errD = errD_real + errD_fake
            optD.step()
            # (2) Update G network: maximize log(D(G(z)))
            netG.zero_grad()
            label.fill_(1.0)
            output = netD(fake).view(-1)
            errG = criterion(output, label)
            errG.backward()
            D_G_z2 = output.mean().item()
            optG.step()
            _ = (errD.item(), errG.item(), D_x, D_G_z1, D_G_z2)
            i += 1


def our_loop(data_root: Path, out: Path, args) -> float:
    """Images/s of dcgan.train, timed between two snapshots (so start-up and plots are excluded)."""
    stamps = {}
    cfg = Config.from_flat(dataset="fashion-mnist", data_root=str(data_root), image_size=args.image_size,
                           ngf=args.ngf, ndf=args.ndf, batch_size=args.batch_size,
                           max_steps=args.warmup + args.iters, snapshot_every=args.warmup,
                           checkpoint_every=10**9, out=str(out), progress=False, download=False)
    if args.iters % args.warmup:
        raise SystemExit("--iters must be a multiple of --warmup (snapshots mark the timing window)")
    import contextlib, io

    with contextlib.redirect_stdout(io.StringIO()):  # keep the table readable
        train(cfg, on_snapshot=lambda step, path, history: stamps.setdefault(step, time.perf_counter()))
    return args.iters * args.batch_size / (stamps[args.warmup + args.iters] - stamps[args.warmup])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default="data")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()

    source = next((d for d in _idx_dirs("fashion-mnist", Path(args.data_root))
                   if (d / "train-images-idx3-ubyte.gz").is_file()), None)
    if source is None:
        raise SystemExit("Fashion-MNIST not found: run `make data` (apt-get install dataset-fashion-mnist)")
    with tempfile.TemporaryDirectory() as tmp:
        # torchvision's FashionMNIST wants uncompressed files under FashionMNIST/raw/
        raw = Path(tmp) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for f in source.glob("*-ubyte.gz"):
            with gzip.open(f) as src, open(raw / f.stem, "wb") as dst:
                shutil.copyfileobj(src, dst)
        print(f"config: Fashion-MNIST {args.image_size}x{args.image_size}, ngf={args.ngf} ndf={args.ndf}, "
              f"batch {args.batch_size}, {args.iters} timed iterations after {args.warmup} warm-up; "
              f"device cpu, {torch.get_num_threads()} threads")
        # Alternate the two loops and keep each one's best run: a shared machine's noise
        # (other tenants, frequency changes) then hits both alike.
        tutorial, ours = [], []
        for r in range(args.repeats):
            tutorial.append(tutorial_loop(Path(tmp), args))
            ours.append(our_loop(Path(args.data_root), Path(tmp) / f"run{r}", args))
            print(f"  repeat {r + 1}: tutorial {tutorial[-1]:.1f} images/s, dcgan {ours[-1]:.1f} images/s")
    print(f"{'loop':<12}{'images/s (best)':>16}")
    print(f"{'tutorial':<12}{max(tutorial):>16.1f}")
    print(f"{'dcgan':<12}{max(ours):>16.1f}")
    print(f"ratio dcgan / tutorial: {max(ours) / max(tutorial):.2f}x")


if __name__ == "__main__":
    main()
