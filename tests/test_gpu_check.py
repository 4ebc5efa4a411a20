"""`make gpu-check` (benchmarks/gpu_check.py): every part's dry run on the CPU, and the verdicts that must not
pass by skipping, cutting or a helper that exits."""

import shutil
import subprocess
import sys

import pytest
import torch

from conftest import REPO


sys.path.insert(0, str(REPO / "benchmarks"))
import gpu_check  # noqa: E402


NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU box runs the real check (make gpu-check)")


@pytest.fixture
def data_root(fmnist_root, tmp_path):
    root = tmp_path / "data"
    shutil.copytree(fmnist_root / "fashion-mnist", root / "fashion-mnist")
    return root


def test_gpu_check_runs_every_part_on_the_cpu(data_root, tmp_path):
    """--dry-run: the same parts at toy sizes on the CPU, so the check cannot rot before a GPU is at hand."""
    r = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--dry-run", "--data-root", str(data_root),
                        "--out", str(tmp_path / "check")], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    report = (tmp_path / "check" / "report.md").read_text()
    for part in gpu_check.PARTS:
        assert f"## {part}: " in report
    assert report.count("**PASS**") == len(gpu_check.PARTS) + 2  # and each compiled cell's own verdict
    assert "every part run passed" in report and "torch " + torch.__version__ in report
    assert "2 ranks over gloo on the CPU: 6 straight vs 4 + resume 2: history equal, weights equal bit for bit; " \
           "2 RNG states in the checkpoint; agreement lines: 2 of 2" in report
    assert "batch 8, fp32, --compile --cuda-graphs: **PASS**" in report and "cudagraph_skips" in report
    assert "| tutorial | 8 | fp32 |" in report and "| default | 8 | bf16 |" in report
    assert "- FID (200 samples" in report


@NO_CUDA
def test_without_a_gpu_it_says_why_and_exits_2(data_root, tmp_path):
    r = subprocess.run([sys.executable, "benchmarks/gpu_check.py", "--out", str(tmp_path / "x"), "--data-root",
                        str(data_root)], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 2 and "needs a CUDA GPU, and torch sees none: " in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "x").exists()


def test_why_torch_sees_no_gpu():
    smi = "| NVIDIA-SMI 535.104.05   Driver Version: 535.104.05   CUDA Version: 12.2 |"
    assert gpu_check.driver_facts(smi) == ("535.104.05", "12.2")
    assert "no NVIDIA driver" in gpu_check.why_no_gpu("2.5.1", "12.4", None, None)
    assert "CPU-only build" in gpu_check.why_no_gpu("2.5.1+cpu", None, smi, None)
    too_old = gpu_check.why_no_gpu("2.9.0+cu128", "12.8", smi, None)
    assert "supports CUDA up to 12.2" in too_old and "built for CUDA 12.8" in too_old and "update the driver" in too_old
    assert "supports CUDA up to 12.2" in gpu_check.why_no_gpu("2.9.0+cu130", "13.0", smi, None)
    assert "hides every GPU" in gpu_check.why_no_gpu("2.5.1", "12.1", smi, "")
    assert "torch.cuda.init()" in gpu_check.why_no_gpu("2.5.1", "12.1", smi, "0")


def test_a_suite_that_skipped_its_gpu_tests_does_not_pass():
    def outcomes(gpu_outcome, n_gpu=8, failed=0):
        o = {f"t{i}": {"outcome": "passed", "cuda": False} for i in range(20)}
        o.update({f"g{i}": {"outcome": gpu_outcome, "cuda": True, "why": "needs a CUDA GPU"} for i in range(n_gpu)})
        o.update({f"f{i}": {"outcome": "failed", "cuda": False} for i in range(failed)})
        return o

    ok, lines = gpu_check.judge_suite(outcomes("skipped"), 8)
    assert not ok and "0 passed, 0 failed, 8 skipped (at least 8 must pass)" in lines[0]
    assert any("GPU test skipped: g0 (needs a CUDA GPU)" in line for line in lines)
    assert gpu_check.judge_suite(outcomes("passed"), 8)[0]
    assert not gpu_check.judge_suite(outcomes("passed", n_gpu=7), 8)[0]
    assert not gpu_check.judge_suite(outcomes("passed", failed=1), 8)[0]
    assert not gpu_check.judge_suite({}, 0)[0]  # nothing ran: nothing checked


def test_missing_extras_skip_cut_parts_do_not_pass_and_exits_get_a_verdict(data_root, tmp_path, monkeypatch, capsys):
    import importlib.util

    import throughput

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("pytest", "torchmetrics") else real_find_spec(name, *a))
    args = ["--dry-run", "--data-root", str(data_root)]
    assert gpu_check.main([*args, "--parts", "suite,fid64", "--out", str(tmp_path / "a")]) == 3  # others not run
    report = (tmp_path / "a" / "report.md").read_text()
    assert report.count("**SKIP**") == 2 and 'pip install "dcgan[test]"' in report and 'dcgan[eval]' in report
    assert "not run: run64, torchrun, compiled, eager" in report and "skipped for a missing extra: suite, fid64" in report
    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)

    def exits(*a, **k):
        raise SystemExit("Fashion-MNIST not found")

    monkeypatch.setattr(throughput, "fashion_mnist_inputs", exits)
    assert gpu_check.main([*args, "--parts", "eager", "--out", str(tmp_path / "b")]) == 1
    report = (tmp_path / "b" / "report.md").read_text()
    assert "SystemExit: Fashion-MNIST not found" in report and "FAILED: eager" in report
    assert gpu_check.main([*args, "--budget", "1", "--out", str(tmp_path / "c")]) == 3
    report = (tmp_path / "c" / "report.md").read_text()
    assert "INCOMPLETE, not a pass: cut for time: suite, run64, fid64, torchrun, compiled, eager, sweep" in report
    assert gpu_check.main([*args, "--parts", "nothing"]) == 2 and "nothing unknown" in capsys.readouterr().err
    import dcgan.data.sources

    monkeypatch.setattr(dcgan.data.sources, "SYSTEM_DATA_ROOT", str(tmp_path / "no-system-data"))
    assert gpu_check.main([*args, "--data-root", str(tmp_path / "empty"), "--out", str(tmp_path / "d")]) == 2
    assert "needs Fashion-MNIST on disk" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.skipif(torch.version.cuda is None, reason="needs a CUDA build of torch to reuse")
def test_setup_reuses_the_cuda_torch_this_python_has(tmp_path):
    """make setup on a GPU box whose Python has a CUDA torch: the venv imports that torch (nothing of torch
    installed into it), says which it took, and pip is held to it. This suite's Python stands in for the box's."""
    r = subprocess.run([sys.executable, "tools/setup_venv.py", str(tmp_path / "venv")], capture_output=True,
                       text=True, timeout=600, cwd=REPO)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert f"reusing the torch this Python has: torch {torch.__version__} (CUDA {torch.version.cuda}" in r.stdout
    py = tmp_path / "venv" / "bin" / "python"
    seen = subprocess.run([str(py), "-c", "import torch, dcgan; print(torch.__file__); print(dcgan.__file__)"],
                          capture_output=True, text=True, timeout=120).stdout.split()
    assert seen[0] == torch.__file__ and seen[1] == str(REPO / "dcgan" / "__init__.py")
    assert not list((tmp_path / "venv").glob("lib/python*/site-packages/torch"))
    assert f"torch=={torch.__version__.split('+')[0]}" in (tmp_path / "venv" / "constraints.txt").read_text()


def test_make_gpu_check_installs_nothing():
    """The target runs on the Python at hand (.venv's if there is one) and never sets a venv up."""
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}  # under make test
    r = subprocess.run(["make", "--no-print-directory", "-n", "gpu-check", "VENV=/nonexistent",
                        "PYTHON=/opt/box/bin/python3"], capture_output=True, text=True, cwd=REPO, timeout=60, env=env)
    assert r.stdout.strip().splitlines() == ["/opt/box/bin/python3 benchmarks/gpu_check.py --out outputs/gpu-check"]
