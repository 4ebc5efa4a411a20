"""Preparing a large folder: the first decode of N CelebA-shaped JPEGs, serial vs one process per core.

    python benchmarks/prepare.py                  # 20,000 JPEGs of 178x218, decoded to 64x64 RGB
    python benchmarks/prepare.py --images 5000 --size 128
    python benchmarks/prepare.py --torchvision    # also batched torchvision.io.decode_jpeg (GPU if any)

Both decodes run in this process on the same files (written first, smooth random pictures saved
as JPEG like CelebA's); each is timed from the first file to the finished uint8 tensor. Prints
images/s, the speed-up against the number of cores, and the projected time for CelebA's 202,599
files. The two tensors must be equal: a parallel decode gives the same cache as a serial one.

--torchvision also times batched `torchvision.io.decode_jpeg` (libjpeg-turbo on the CPU, nvJPEG on
a CUDA GPU when there is one) with the resize and crop done by `F.interpolate` on the same device,
in one process, and says how far its pixels are from Pillow's (the two decoders and resamplers differ
by a few levels). It measures whether a GPU decode would pay; the package decodes with Pillow.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dcgan.data.decode import decode_files, decode_workers  # noqa: E402
from dcgan.data.sources import RawDataset  # noqa: E402

CELEBA_FILES = 202_599


def write_jpegs(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """n smooth random 178x218 RGB pictures (upsampled noise), JPEG quality 90, as CelebA's are."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        small = rng.integers(0, 256, (7, 6, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((178, 218), Image.BILINEAR)
        path = folder / f"{i:06d}.jpg"
        img.save(path, quality=90)
        paths.append(path)
    return paths


def decode_torchvision(files: list[Path], size: int, device: torch.device, batch: int = 256) -> torch.Tensor:
    """Batched decode_jpeg on `device`, then short side to `size` (antialiased bilinear) and the
    centre crop, as dcgan.data.decode does with Pillow -> uint8 (N, 3, size, size) on the CPU."""
    import torch.nn.functional as F
    from torchvision.io import ImageReadMode, decode_jpeg, read_file

    out = []
    for start in range(0, len(files), batch):
        data = [read_file(str(p)) for p in files[start:start + batch]]
        images = decode_jpeg(data, mode=ImageReadMode.RGB, device=device)  # list of (3, H, W) uint8
        x = torch.stack(images).float()  # CelebA's files share one shape
        h, w = x.shape[-2:]
        scale = size / min(h, w)
        nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
        top, left = (nh - size) // 2, (nw - size) // 2
        out.append(x[:, :, top:top + size, left:left + size].round_().clamp_(0, 255).to("cpu", torch.uint8))
    return torch.cat(out)


def time_torchvision(files: list[Path], size: int, reference: torch.Tensor) -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    decode_torchvision(files[:256], size, device)  # warm-up: libraries, CUDA context, nvJPEG handles
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    images = decode_torchvision(files, size, device)  # ends on a copy to the CPU: the work is done
    seconds = time.perf_counter() - t
    diff = (images.int() - reference.int()).abs()
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU, this process"
    print(f"  torchvision decode_jpeg on {name}: {len(files) / seconds:.0f} images/s; pixels differ from "
          f"Pillow's by {diff.float().mean():.2f} levels on average (max {int(diff.max())})")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=20_000)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--torchvision", action="store_true", help="also time batched torchvision.io.decode_jpeg")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        t = time.perf_counter()
        files = write_jpegs(folder, args.images)
        print(f"wrote {len(files)} JPEGs of 178x218 in {time.perf_counter() - t:.1f} s")
        raw = RawDataset(name="synthetic", source=str(folder), files=files)
        cores = decode_workers(10**9)
        times, tensors = {}, {}
        for workers in (1, cores):
            t = time.perf_counter()
            tensors[workers], _, skipped = decode_files(raw, args.size, 3, progress=False, workers=workers)
            times[workers] = time.perf_counter() - t
            assert not skipped
            print(f"  {workers} process{'es' if workers > 1 else ''}: {args.images / times[workers]:.0f} images/s")
        if args.torchvision:
            time_torchvision(files, args.size, tensors[1])
    assert torch.equal(tensors[1], tensors[cores]), "the parallel decode differs from the serial one"
    speedup = times[1] / times[cores]
    print(f"speed-up {speedup:.2f}x with {cores} processes ({speedup / cores:.2f} x the cores; target >= 0.8)")
    print(f"projected first decode of CelebA's {CELEBA_FILES} files at {args.size}px: "
          f"{CELEBA_FILES / args.images * times[cores] / 60:.1f} min ({CELEBA_FILES / args.images * times[1] / 60:.1f} "
          "min serial)")


if __name__ == "__main__":
    main()
