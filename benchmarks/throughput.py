"""Training throughput: our loop vs a plain tutorial-style loop, same model and config, one process.

    python benchmarks/throughput.py                 # Fashion-MNIST 32x32, ngf = ndf = 64, batch 128
    python benchmarks/throughput.py --iters 100 --ngf 32
    python benchmarks/throughput.py --our-flags="--precision bf16 --fused-adam"     # measure toggles
    python benchmarks/throughput.py --celeba64 --device cuda \
        --our-flags="--precision bf16 --compile --fused-adam --cudnn-benchmark"     # the GPU mode

--celeba64 is the tutorial's CelebA recipe (64x64 RGB, ngf = ndf = 64): real CelebA from
DATA_ROOT/celeba when present, otherwise --images smooth random RGB pictures of CelebA's shape
(178x218) written as JPEG files, the tutorial's ImageFolder input, and as the uint8 cache tensor
ours reads. It also reports peak GPU memory and achieved TFLOP/s against the device's peak.

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

from dcgan.settings.config import Config  # noqa: E402
from dcgan.models import build_models  # noqa: E402
from dcgan.data.sources import _idx_dirs  # noqa: E402
from dcgan.cli import build_parser  # noqa: E402
from dcgan.training.loop import train  # noqa: E402


def tutorial_loop(dataset, nc: int, device: torch.device, args) -> float:
    """Images/s of the tutorial's loop, timed from iteration `warmup` to `warmup + iters`."""
    loader = torch.utils.data.DataLoader(dataset, batch_size=args.batch_size, shuffle=True,
                                         num_workers=args.workers, drop_last=True,
                                         pin_memory=device.type == "cuda")
    torch.manual_seed(0)
    netG, netD_logits = build_models(nz=100, ngf=args.ngf, ndf=args.ndf, nc=nc, image_size=args.image_size)
    netG.to(device)
    netD = nn.Sequential(netD_logits, nn.Sigmoid()).to(device)
    criterion = nn.BCELoss()
    optD = torch.optim.Adam(netD.parameters(), lr=2e-4, betas=(0.5, 0.999))
    optG = torch.optim.Adam(netG.parameters(), lr=2e-4, betas=(0.5, 0.999))
    i, start = 0, None
    while True:
        for data, _ in loader:
            if i == args.warmup:
                _sync(device)
                start = time.perf_counter()
            if i == args.warmup + args.iters:
                _sync(device)
                return args.iters * args.batch_size / (time.perf_counter() - start)
            # (1) Update D network: maximize log(D(x)) + log(1 - D(G(z)))
            netD.zero_grad()
            real = data.to(device)
            b = real.size(0)
            label = torch.full((b,), 1.0, device=device)
            output = netD(real).view(-1)
            errD_real = criterion(output, label)
            errD_real.backward()
            D_x = output.mean().item()
            noise = torch.randn(b, 100, 1, 1, device=device)
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


def our_loop(settings: dict, out: Path, args) -> float:
    """Images/s of dcgan.train(), timed over its steps warmup+1 .. warmup+iters: no start-up, snapshot,
    checkpoint or final plot falls inside the window (CUDA events on a GPU)."""
    import importlib

    extra = {k: v for k, v in vars(build_parser().parse_args(["train", *args.our_flags.split()])).items()
             if k not in ("command", "run", "resume", "config")}
    cfg = Config.from_flat(**{**settings, "image_size": args.image_size, "ngf": args.ngf, "ndf": args.ndf,
                              "batch_size": args.batch_size, "max_steps": args.warmup + args.iters,
                              "snapshot_every": 10**9, "checkpoint_every": 10**9, "out": str(out),
                              "progress": False, "download": False, "device": args.device,
                              "divergence_patience": 0, **extra})
    loop = importlib.import_module("dcgan.training.loop")
    step, calls, window = loop.train_step, [0], {}
    cuda = torch.device(args.device).type == "cuda" if args.device != "auto" else torch.cuda.is_available()

    def timed_step(*a, **k):
        calls[0] += 1
        if calls[0] == args.warmup + 1:  # the window opens before this step
            window["start"] = _mark(cuda)
        row = step(*a, **k)
        if calls[0] == args.warmup + args.iters:  # and closes after this one's work is done
            window["end"] = _mark(cuda)
        return row

    import logging

    from dcgan.log import logger

    loop.train_step = timed_step
    quiet = logger()
    level = quiet.level
    quiet.setLevel(logging.WARNING)  # keep the table readable: no "done: ..." lines
    try:
        train(cfg)
    finally:
        loop.train_step = step
        quiet.setLevel(level)
    if cuda:
        window["end"].synchronize()
        seconds = window["start"].elapsed_time(window["end"]) / 1000
    else:
        seconds = window["end"] - window["start"]
    return args.iters * args.batch_size / seconds


def _mark(cuda: bool):
    """A point in time: a recorded CUDA event on a GPU (queued work counts), else the CPU clock."""
    if cuda:
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        return event
    return time.perf_counter()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fashion_mnist_inputs(tmp: Path, args):
    """The tutorial's torchvision FashionMNIST and our settings for the same data."""
    import torchvision.datasets as dset
    import torchvision.transforms as T

    source = next((d for d in _idx_dirs("fashion-mnist", Path(args.data_root))
                   if (d / "train-images-idx3-ubyte.gz").is_file()), None)
    if source is None:
        raise SystemExit("Fashion-MNIST not found: run `make data` (apt-get install dataset-fashion-mnist)")
    raw = tmp / "FashionMNIST" / "raw"  # torchvision wants uncompressed files here
    raw.mkdir(parents=True)
    for f in source.glob("*-ubyte.gz"):
        with gzip.open(f) as src, open(raw / f.stem, "wb") as dst:
            shutil.copyfileobj(src, dst)
    dataset = dset.FashionMNIST(str(tmp), train=True, download=False, transform=T.Compose([
        T.Resize(args.image_size), T.ToTensor(), T.Normalize((0.5,), (0.5,))]))
    return dataset, 1, {"dataset": "fashion-mnist", "data_root": args.data_root}


def celeba_inputs(tmp: Path, args):
    """CelebA-shaped inputs: the real files when present, else synthetic JPEGs plus the cache."""
    import torchvision.datasets as dset
    import torchvision.transforms as T

    from dcgan.data.cache import CACHE_VERSION, ArrayWriter, cache_path, sidecar_path, write_sidecar
    from dcgan.settings.config import DataConfig

    transform = T.Compose([T.Resize(args.image_size), T.CenterCrop(args.image_size), T.ToTensor(),
                           T.Normalize((0.5,) * 3, (0.5,) * 3)])
    real = Path(args.data_root) / "celeba" / "img_align_celeba"
    if real.is_dir():
        print(f"inputs: real CelebA in {real}")
        return (dset.ImageFolder(str(real.parent), transform=transform), 3,
                {"dataset": "celeba", "data_root": args.data_root})
    from PIL import Image

    folder = tmp / "celeba" / "img"
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    print(f"inputs: {args.images} synthetic 178x218 JPEGs (no CelebA in {args.data_root}/celeba)")
    for i in range(args.images):  # smooth random pictures: JPEG sizes like photos, not like noise
        small = torch.randint(0, 256, (3, 14, 11), generator=g, dtype=torch.uint8).float()[None]
        big = torch.nn.functional.interpolate(small, size=(218, 178), mode="bilinear")[0]
        Image.fromarray(big.byte().permute(1, 2, 0).numpy()).save(folder / f"{i:06d}.jpg", quality=90)
    data = DataConfig(dataset="folder", folder=str(folder.parent), data_root=str(tmp / "root"),
                      image_size=args.image_size, channels=3)
    images = torch.randint(0, 256, (args.images, 3, args.image_size, args.image_size), generator=g,
                           dtype=torch.uint8)
    writer = ArrayWriter(cache_path(data, 3), tuple(images.shape[1:]))
    writer(images.numpy())
    writer.close()
    write_sidecar(sidecar_path(data, 3), {
        "version": CACHE_VERSION, "shape": list(images.shape), "labels": None, "classes": [],
        "source": str(folder.parent), "skipped": [], "n_files": args.images,
        "files": [f"img/{i:06d}.jpg" for i in range(args.images)]})
    return (dset.ImageFolder(str(folder.parent), transform=transform), 3,
            {"dataset": "folder", "folder": str(folder.parent), "data_root": str(tmp / "root"), "channels": 3})


def flops_per_image(nc: int, args) -> float:
    """FLOPs of one training iteration (D on real and fake, G forward, D and G backward) per image."""
    from torch.utils.flop_counter import FlopCounterMode

    G, D = build_models(nz=100, ngf=args.ngf, ndf=args.ndf, nc=nc, image_size=args.image_size)
    b = 4
    real = torch.randn(b, nc, args.image_size, args.image_size)
    with FlopCounterMode(display=False) as counter:
        fake = G(torch.randn(b, 100, 1, 1))
        (D(real).sum() + D(fake.detach()).sum()).backward()
        D.requires_grad_(False)
        D(fake).sum().backward()
    return counter.get_total_flops() / b


PEAK_TFLOPS = {"H100": {"bf16": 989.0, "fp32": 494.7}, "H200": {"bf16": 989.0, "fp32": 494.7},
               "A100": {"bf16": 312.0, "fp32": 156.0}}  # dense tensor-core peaks (fp32 as TF32)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-root", default="data")
    p.add_argument("--celeba64", action="store_true", help="the 64x64 CelebA-shaped config (the GPU mode)")
    p.add_argument("--images", type=int, default=202_599, help="synthetic images for --celeba64 "
                   "without real CelebA (default: CelebA's count)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    p.add_argument("--image-size", type=int, default=None, help="default: 32, or 64 with --celeba64")
    p.add_argument("--ngf", type=int, default=64)
    p.add_argument("--ndf", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--iters", type=int, default=50)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--workers", type=int, default=2, help="the tutorial's DataLoader workers (default: 2)")
    p.add_argument("--our-flags", default="",
                   help='extra `dcgan train` flags for our loop, e.g. --our-flags="--precision bf16 --compile"')
    p.add_argument("--skip-tutorial", action="store_true", help="time our loop only")
    args = p.parse_args()
    args.image_size = args.image_size or (64 if args.celeba64 else 32)
    device = torch.device(args.device)

    with tempfile.TemporaryDirectory() as tmp:
        dataset, nc, settings = (celeba_inputs if args.celeba64 else fashion_mnist_inputs)(Path(tmp), args)
        name = "CelebA-shaped" if args.celeba64 else "Fashion-MNIST"
        print(f"config: {name} {args.image_size}x{args.image_size}x{nc}, ngf={args.ngf} ndf={args.ndf}, "
              f"batch {args.batch_size}, {args.iters} timed iterations after {args.warmup} warm-up; "
              f"device {device}" + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else
                                    f", {torch.get_num_threads()} threads")
              + (f"; our flags: {args.our_flags}" if args.our_flags else ""))
        # Alternate the two loops and keep each one's best run: a shared machine's noise
        # (other tenants, frequency changes) then hits both alike.
        tutorial, ours, peak = [], [], 0
        for r in range(args.repeats):
            if not args.skip_tutorial:
                tutorial.append(tutorial_loop(dataset, nc, device, args))
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            ours.append(our_loop(settings, Path(tmp) / f"run{r}", args))
            if device.type == "cuda":
                peak = max(peak, torch.cuda.max_memory_allocated(device))
            print(f"  repeat {r + 1}: " + (f"tutorial {tutorial[-1]:.1f} images/s, " if tutorial else "")
                  + f"dcgan {ours[-1]:.1f} images/s")
    flops = flops_per_image(nc, args)
    print(f"{'loop':<12}{'images/s (best)':>16}{'TFLOP/s':>10}")
    if tutorial:
        print(f"{'tutorial':<12}{max(tutorial):>16.1f}{max(tutorial) * flops / 1e12:>10.3f}")
    print(f"{'dcgan':<12}{max(ours):>16.1f}{max(ours) * flops / 1e12:>10.3f}")
    print(f"training FLOPs per image: {flops / 1e9:.2f} GFLOP")
    if tutorial:
        print(f"ratio dcgan / tutorial: {max(ours) / max(tutorial):.2f}x")
    if device.type == "cuda":
        gpu = torch.cuda.get_device_name(device)
        kind = "bf16" if "bf16" in args.our_flags else "fp32"
        peak_tf = next((v[kind] for k, v in PEAK_TFLOPS.items() if k in gpu), None)
        print(f"peak GPU memory (ours): {peak / 2**30:.2f} GiB")
        if peak_tf:
            print(f"achieved {max(ours) * flops / 1e12:.1f} of {peak_tf:.0f} {kind} TFLOP/s peak "
                  f"({100 * max(ours) * flops / 1e12 / peak_tf:.2f}%)")


if __name__ == "__main__":
    main()
