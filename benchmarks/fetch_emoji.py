"""Fetch a real colour dataset offline: Google's Noto Emoji (drawn by people) from the npm registry.

    python benchmarks/fetch_emoji.py                 # -> data/emoji/<category>/<code>.png, 64 x 64 RGB
    dcgan train --dataset folder --folder data/emoji --image-size 64 --channels 3 --epochs 10

The npm package `emoji-datasource-google` (the emoji-datasource project, MIT) ships the Noto Emoji
images (Apache License 2.0) as 64 x 64 RGBA PNGs, with a JSON list giving each image's category.
This lays them out as `--dataset folder` expects, one subfolder per category (its classes, which
`dcgan evaluate` trains its classifier on), each image composited on white: 3,781 images in 9
classes (the 5 skin-tone swatches of "Component" are left out). It stands in for CelebA and the
other colour sets where nothing but the package registries can be reached.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "emoji-datasource-google"
SKIP = {"Component"}  # skin-tone swatches: flat colour squares, not pictures


def slug(category: str) -> str:
    return category.lower().replace(" & ", "-").replace(" ", "-")


def fetch_tarball(package: str, version: str, work: Path) -> Path:
    """`npm pack` downloads the package's tarball without installing anything."""
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed to fetch the images (apt-get install -y npm), or download "
                         f"{package}'s tarball by hand and pass it with --tarball")
    spec = f"{package}@{version}" if version else package
    done = subprocess.run(["npm", "pack", spec, "--silent"], cwd=work, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"npm pack {spec} failed: {done.stderr.strip() or done.stdout.strip()}")
    return work / done.stdout.strip().splitlines()[-1]


def lay_out(tarball: Path, out: Path) -> dict[str, int]:
    """Write each category's images, composited on white, to out/<category>/; returns counts."""
    from PIL import Image

    with tarfile.open(tarball) as tar:
        members = {m.name: m for m in tar.getmembers()}
        emoji = json.load(tar.extractfile(members["package/emoji.json"]))
        counts: dict[str, int] = {}
        for entry in emoji:
            if entry["category"] in SKIP:
                continue
            names = [entry["image"]] + [v["image"] for v in (entry.get("skin_variations") or {}).values()]
            for name in names:
                member = members.get(f"package/img/google/64/{name}")
                if member is None:
                    continue
                rgba = Image.open(io.BytesIO(tar.extractfile(member).read())).convert("RGBA")
                rgb = Image.new("RGB", rgba.size, (255, 255, 255))
                rgb.paste(rgba, mask=rgba.getchannel("A"))
                folder = out / slug(entry["category"])
                folder.mkdir(parents=True, exist_ok=True)
                rgb.save(folder / name)
                counts[folder.name] = counts.get(folder.name, 0) + 1
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="data/emoji", help="where the class folders go (default: data/emoji)")
    parser.add_argument("--version", default="16.0.0", help=f"{PACKAGE}'s version (default: 16.0.0)")
    parser.add_argument("--tarball", default="", help="a tarball already downloaded (skips npm)")
    args = parser.parse_args()
    out = Path(args.out)
    if out.is_dir() and any(out.iterdir()):
        print(f"{out} already holds images; remove it to fetch again")
        return 0
    with tempfile.TemporaryDirectory() as work:
        tarball = Path(args.tarball) if args.tarball else fetch_tarball(PACKAGE, args.version, Path(work))
        tmp = out.with_name(out.name + ".partial")  # a fetch cut short never looks like a complete one
        shutil.rmtree(tmp, ignore_errors=True)
        counts = lay_out(tarball, tmp)
        tmp.replace(out) if not out.exists() else (shutil.rmtree(out), tmp.replace(out))
    print(f"{sum(counts.values())} images in {len(counts)} classes under {out}: "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
