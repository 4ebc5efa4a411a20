"""make setup: the .venv, reusing a CUDA torch this Python already has (a GPU box's own), else installing one.

    python3 tools/setup_venv.py .venv              # what `make setup` runs (PYTHON=... picks the Python)
    python3 tools/setup_venv.py .venv --no-reuse   # install torch into the venv even where one is found

A GPU box often comes with a working torch (an NGC container, a cloud image, a cluster module) and no
internet. Where this Python imports a torch built for CUDA, the venv sees it (through its site-packages,
as --system-site-packages would) and pip is held to that torch and torchvision by a constraints file, so
it never downloads another torch over it; it installs only what is missing. Otherwise pip installs torch
as usual. Either way it says which torch it took.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def found_torch(python: str) -> dict | None:
    """What `python` imports as torch (version, CUDA build, where, torchvision's version), or None."""
    probe = ("import json, torch, site, sysconfig\n"
             "try:\n    import torchvision; tv = torchvision.__version__\nexcept Exception:\n    tv = None\n"
             "print(json.dumps({'version': torch.__version__, 'cuda': torch.version.cuda, 'file': torch.__file__,"
             " 'torchvision': tv, 'gpu': torch.cuda.is_available(),"
             " 'paths': [p for p in site.getsitepackages() + [site.getusersitepackages()]"
             "           if p and __import__('os').path.isdir(p)] + [sysconfig.get_paths()['purelib']]}))")
    try:
        r = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    if r.returncode != 0:
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def make_venv(target: Path, reuse: bool) -> int:
    torch = found_torch(sys.executable) if reuse else None
    reusing = torch is not None and torch["cuda"] is not None
    if not target.exists():
        venv.EnvBuilder(with_pip=True, system_site_packages=False).create(target)
    py = str(target / "bin" / "python")
    if reusing:
        # the venv sees this Python's packages after its own: a .pth file, which also works where this
        # Python is itself a venv or conda env (--system-site-packages would reach only its base)
        ours = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        paths = list(dict.fromkeys(torch["paths"]))
        (Path(ours) / "_reused_site_packages.pth").write_text("\n".join(paths) + "\n")
        print(f"setup: reusing the torch this Python has: torch {torch['version']} (CUDA {torch['cuda']}, "
              f"GPU seen: {'yes' if torch['gpu'] else 'no'}) at {Path(torch['file']).parent}"
              + (f", torchvision {torch['torchvision']}" if torch["torchvision"] else ""), flush=True)
    else:
        print("setup: installing torch from the package index into .venv "
              + ("(this Python has none with CUDA)" if reuse else "(--no-reuse)"), flush=True)
    pip = [py, "-m", "pip", "install", "-q"]
    subprocess.run([*pip, "--upgrade", "pip"], check=False)
    install = [*pip, "-e", f"{REPO}[all]"]
    # setuptools that builds editable wheels itself (70.1 on), or with the wheel package beside it
    probe = ("import importlib.util as u, setuptools, sys; v = tuple(int(p) for p in setuptools.__version__.split('.')[:2]);"
             " sys.exit(not (v >= (70, 1) or (v >= (64, 0) and u.find_spec('wheel'))))")
    builds_here = subprocess.run([py, "-c", probe], capture_output=True).returncode == 0
    if reusing and builds_here:  # an offline box: build the package with the setuptools it has, no download
        install.append("--no-build-isolation")
    if reusing:
        constraints = target / "constraints.txt"
        pins = [f"torch=={torch['version'].split('+')[0]}"]
        if torch["torchvision"]:
            pins.append(f"torchvision=={torch['torchvision'].split('+')[0]}")
        constraints.write_text("\n".join(pins) + "\n")
        install += ["-c", str(constraints)]
    r = subprocess.run(install)
    if r.returncode != 0 and reusing:
        print(f"setup: pip could not install the package around torch {torch['version']} without replacing it "
              "(on a box without internet: a dependency missing here; else often no torchvision release for that "
              "torch; pip's message above says which). Install torchvision for it into this Python "
              "first, or run make setup REUSE_TORCH=no to install a torch of its own into .venv", file=sys.stderr)
    return r.returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", type=Path)
    parser.add_argument("--no-reuse", action="store_true", help="install torch into the venv even where this "
                                                                  "Python has a CUDA torch")
    args = parser.parse_args(argv)
    return make_venv(args.target, reuse=not args.no_reuse)


if __name__ == "__main__":
    sys.exit(main())
