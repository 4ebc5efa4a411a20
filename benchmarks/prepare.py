"""Preparing a large folder: the first decode of N CelebA-shaped JPEGs, serial vs one process per core.

    python benchmarks/prepare.py                  # 20,000 JPEGs of 178x218, decoded to 64x64 RGB
    python benchmarks/prepare.py --images 5000 --size 128

Both decodes run in this process on the same files (written first, smooth random pictures saved
as JPEG like CelebA's); each is timed from the first file to the finished uint8 tensor. Prints
images/s, the speed-up against the number of cores, and the projected time for CelebA's 202,599
files. The two tensors must be equal: a parallel decode gives the same cache as a serial one.
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

from dcgan.decode import decode_files, decode_workers  # noqa: E402
from dcgan.sources import RawDataset  # noqa: E402

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=20_000)
    p.add_argument("--size", type=int, default=64)
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
    assert torch.equal(tensors[1], tensors[cores]), "the parallel decode differs from the serial one"
    speedup = times[1] / times[cores]
    print(f"speed-up {speedup:.2f}x with {cores} processes ({speedup / cores:.2f} x the cores; target >= 0.8)")
    print(f"projected first decode of CelebA's {CELEBA_FILES} files at {args.size}px: "
          f"{CELEBA_FILES / args.images * times[cores] / 60:.1f} min ({CELEBA_FILES / args.images * times[1] / 60:.1f} "
          "min serial)")


if __name__ == "__main__":
    main()
