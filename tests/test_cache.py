"""The memory-mapped dataset cache: its format, rebuilds, batches equal to in-memory ones, a memory limit."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from dcgan.data.batches import RealBatches
from dcgan.data.cache import cache_path, old_cache, sidecar_path
from dcgan.data.batches import batch_stream
from dcgan.data.dataset import load_dataset, to_model_range
from dcgan.settings.config import DataConfig

from conftest import REPO, find_fashion_mnist


def _root(fmnist_root, tmp_path) -> Path:
    """A data root of its own (its cache folder starts empty) over the shared Fashion-MNIST slice."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "fashion-mnist").symlink_to(fmnist_root / "fashion-mnist")
    return root


def _mapping(path: Path) -> dict[str, int]:
    """This process's /proc/self/smaps fields (kB) for its mapping of `path`, summed."""
    fields, inside = {}, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        head = line.split()
        if "-" in head[0] and len(head) >= 5 and ":" in head[3]:  # a mapping's first line
            inside = head[-1] == str(path)
        elif inside and line.endswith(" kB"):
            fields[head[0].rstrip(":")] = fields.get(head[0].rstrip(":"), 0) + int(head[1])
    return fields


def test_cache_is_a_mapped_npy_with_a_json_sidecar(fmnist_root, tmp_path):
    cfg = DataConfig(data_root=str(_root(fmnist_root, tmp_path)), download=False)
    first = load_dataset(cfg, progress=False)
    npy, side = cache_path(cfg, 1), sidecar_path(cfg, 1)
    assert first.cache_path == str(npy) and npy.name == "fashion-mnist-train-32px-1ch.npy"
    meta = json.loads(side.read_text())
    assert meta["version"] == 3 and meta["shape"] == [1024, 1, 32, 32] and len(meta["labels"]) == 1024
    on_disk = np.load(npy, mmap_mode="r")  # any numpy reads it
    assert on_disk.shape == (1024, 1, 32, 32) and np.array_equal(on_disk, first.images.numpy())
    again = load_dataset(cfg, progress=False)
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    if Path("/proc/self/smaps").is_file():  # the tensor is the file's pages, not a copy in memory
        assert _mapping(npy.resolve()).get("Size", 0) >= npy.stat().st_size // 1024


def test_old_and_damaged_caches_are_rebuilt_with_a_note(fmnist_root, tmp_path, capsys):
    cfg = DataConfig(data_root=str(_root(fmnist_root, tmp_path)), download=False)
    reference = load_dataset(cfg, progress=False).images.clone()
    # a cache of format 2 (one .pt) from an earlier version
    npy, side, old = cache_path(cfg, 1), sidecar_path(cfg, 1), old_cache(cfg, 1)
    npy.unlink()
    side.unlink()
    torch.save({"version": 2, "images": reference}, old)
    capsys.readouterr()
    ds = load_dataset(cfg, progress=False)
    assert "old format" in capsys.readouterr().err and not old.exists()
    assert torch.equal(ds.images, reference)
    # a truncated .npy (a full disk, a killed copy) is named, rebuilt and never trusted
    del ds
    with open(npy, "r+b") as f:
        f.truncate(npy.stat().st_size - 100)
    ds = load_dataset(cfg, progress=False)
    note = capsys.readouterr().err
    assert f"cache {npy} is damaged" in note and "rebuilding it" in note
    assert torch.equal(ds.images, reference)
    # a sidecar that is not JSON
    side.write_text("{not json")
    assert torch.equal(load_dataset(cfg, progress=False).images, reference)
    assert "is unreadable" in capsys.readouterr().err


def test_mapped_batches_equal_in_memory_batches(fmnist_root, tmp_path):
    """Batches from the mapped file, inline or from the background gatherer (a GPU run's), are those
    of indexing an in-memory copy."""
    cfg = DataConfig(data_root=str(_root(fmnist_root, tmp_path)), download=False)
    ds = load_dataset(cfg, progress=False)
    in_memory = ds.images.clone()
    conds = torch.nn.functional.one_hot(ds.labels, 10).float()
    for start, prefetch in ((0, False), (0, True), (37, True)):  # 37: a resumed run, mid-epoch of 42 batches
        order = batch_stream(1024, 24, seed=5, start=start)  # plain indexing of an in-memory copy
        with RealBatches(ds.images, conds, 24, seed=5, start=start, device=torch.device("cpu"),
                         prefetch=prefetch) as mapped:
            for _ in range(50):  # across an epoch's end
                idx = next(order)
                real, cond = mapped()
                assert torch.equal(real, to_model_range(in_memory[idx])) and torch.equal(cond, conds[idx])

def test_trains_from_a_cache_larger_than_its_memory_limit(tmp_path):
    """All 60,000 Fashion-MNIST images at 64px RGB (737 MB) trained in a process whose private memory
    may grow by 400 MB only: reading the cache into memory fails there, training from the map works."""
    source = find_fashion_mnist()
    if source is None:
        pytest.skip("Fashion-MNIST is not installed: apt-get install dataset-fashion-mnist")
    root = tmp_path / "data"
    root.mkdir()
    (root / "fashion-mnist").symlink_to(source)
    cfg = DataConfig(data_root=str(root), image_size=64, channels=3, download=False)
    ds = load_dataset(cfg, progress=False)
    size = cache_path(cfg, 3).stat().st_size
    assert ds.images.shape == (60000, 3, 64, 64) and size > 700e6
    del ds
    script = textwrap.dedent(f"""
        import resource, sys
        import numpy as np
        from dcgan.cli import main
        used = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmData:")) * 1024
        limit = used + 400 * 2**20  # well below the cache's {size} bytes
        resource.setrlimit(resource.RLIMIT_DATA, (limit, resource.RLIM_INFINITY))
        try:
            np.fromfile({str(cache_path(cfg, 3))!r}, dtype=np.uint8)
            sys.exit("the limit did not bite: the whole cache was read into memory")
        except MemoryError:
            print("reading the cache whole: MemoryError")
        sys.exit(main(["train", "--data-root", {str(root)!r}, "--image-size", "64", "--channels", "3",
                       "--ngf", "4", "--ndf", "4", "--nz", "8", "--batch-size", "4", "--max-steps", "3",
                       "--precision", "fp32", "--snapshot-every", "3", "--checkpoint-every", "3",
                       "--no-progress", "--no-download", "--out", {str(tmp_path / "run")!r}]))
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    assert "MemoryError" in done.stdout
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file()


def test_processes_share_one_copy_of_the_mapped_cache(fmnist_root, tmp_path):
    """Two processes that read the whole cache hold its pages once: they are shared, not private."""
    if not Path("/proc/self/smaps").is_file():
        pytest.skip("needs Linux's /proc/self/smaps")
    cfg = DataConfig(data_root=str(_root(fmnist_root, tmp_path)), image_size=64, download=False)
    ds = load_dataset(cfg, progress=False)
    npy = cache_path(cfg, 1).resolve()
    other = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from dcgan import DataConfig, load_dataset
            ds = load_dataset(DataConfig(data_root={cfg.data_root!r}, image_size=64, download=False), progress=False)
            print(int(ds.images.sum()), flush=True)  # touches every page
            sys.stdin.readline()
        """)], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        total = int(other.stdout.readline())
        assert int(ds.images.sum()) == total
        fields = _mapping(npy)
        assert fields["Rss"] >= 0.9 * npy.stat().st_size / 1024  # all of it is resident ...
        assert fields["Shared_Clean"] >= 0.9 * fields["Rss"] and fields.get("Private_Dirty", 0) == 0  # ... once
    finally:
        other.communicate("\n", timeout=60)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_pinned_gatherer_feeds_a_gpu_the_same_batches(fmnist_root, tmp_path):
    """A GPU model over the mapped host cache: the background thread's pinned, asynchronous copies
    arrive intact (each buffer is reused only after its copy is done), in the in-memory order."""
    cfg = DataConfig(data_root=str(_root(fmnist_root, tmp_path)), download=False)
    ds = load_dataset(cfg, progress=False)
    order = batch_stream(1024, 64, seed=3, start=5)
    with RealBatches(ds.images, None, 64, seed=3, start=5, device=torch.device("cuda")) as batches:
        assert batches.pinned and batches.pool is not None
        for _ in range(40):
            real, _ = batches()
            assert real.is_cuda and torch.equal(real.cpu(), to_model_range(ds.images[next(order)]))
