"""Accelerator toggles: each trains correctly on the CPU (and on a GPU when there is one)."""

import math
import shutil

import pytest
import torch

from dcgan.checkpoint import load_checkpoint
from dcgan.runtime import place_images, torch_older_than
from dcgan.sample import load_generator
from dcgan.training.compiled import toolchain_problem
from dcgan.training.loop import train

from conftest import tiny_config


def cuda(test):
    """A test for a GPU: marked `cuda` (make gpu-check selects them), skipped without one."""
    return pytest.mark.cuda(pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")(test))


FUSED_ON_CPU = pytest.mark.skipif(torch_older_than(2, 4), reason="fused Adam on a CPU needs torch 2.4")


@pytest.mark.parametrize("settings", [{"precision": "bf16"}, {"precision": "fp32"},
                                      pytest.param({"fused_adam": True}, marks=FUSED_ON_CPU),
                                      {"channels_last": False}, {"cudnn_benchmark": True}],
                         ids=["bf16", "fp32", "fused-adam", "no-channels-last", "cudnn-benchmark"])
def test_toggle_trains_on_cpu(settings, fmnist_root, tmp_path):
    # classic's rates: in 8 tiny steps D's loss falls under them, which says the toggle left D learning
    # (under the default's G at 3x D's rate and smoothed targets it need not, toggle or not)
    history = train(tiny_config(fmnist_root, tmp_path / "r", max_steps=8, recipe="classic", **settings))
    assert all(math.isfinite(v) for v in history["loss_d"] + history["loss_g"])
    assert sum(history["loss_d"][-3:]) < sum(history["loss_d"][:3])  # D still learns
    state = load_checkpoint(tmp_path / "r")
    assert all(v.dtype != torch.bfloat16 for v in state["G"].values())  # weights stay fp32


def test_bf16_stays_close_to_fp32(fmnist_root, tmp_path):
    a = train(tiny_config(fmnist_root, tmp_path / "a", max_steps=3, deterministic=True, precision="fp32"))
    b = train(tiny_config(fmnist_root, tmp_path / "b", max_steps=3, deterministic=True, precision="bf16"))
    assert a["loss_d"][0] == pytest.approx(b["loss_d"][0], rel=0.05)


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on the CPU needs a C++ compiler")
def test_compile_matches_eager_with_gradient_penalty(fmnist_root, tmp_path):
    """WGAN-GP through torch.compile: the penalty runs on the eager D; results match eager ones."""
    settings = dict(loss="wgan-gp", d_steps=2, max_steps=3, deterministic=False, channels_last=False,
                    precision="fp32")
    torch.manual_seed(0)
    eager = train(tiny_config(fmnist_root, tmp_path / "eager", **settings))
    compiled = train(tiny_config(fmnist_root, tmp_path / "compiled", compile=True, **settings))
    for key in ("loss_d", "loss_g", "penalty"):
        for x, y in zip(eager[key], compiled[key]):
            assert x == pytest.approx(y, rel=1e-3, abs=1e-4), key
    # the checkpoint holds the plain module: it loads without compile
    G = load_generator(tmp_path / "compiled")
    assert not any(k.startswith("_orig_mod") for k in G.state_dict())


@pytest.mark.skipif(shutil.which("g++") is None and shutil.which("c++") is None,
                    reason="torch.compile on the CPU needs a C++ compiler")
def test_cuda_graphs_mode_marks_each_step_and_matches_eager(fmnist_root, tmp_path, monkeypatch):
    """--compile --cuda-graphs (reduce-overhead; on the CPU torch runs it without graphs): every D step
    starts a new step of CUDA graphs, and a conditional run that calls D three ways (with features,
    plain, a wrong condition; then frozen for G's step) trains as eagerly."""
    marks = []
    real_mark = torch.compiler.cudagraph_mark_step_begin
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: (marks.append(1), real_mark()))
    settings = dict(d_steps=2, max_steps=3, condition="class", deterministic=False, channels_last=False,
                    precision="fp32", recipe="classic", mismatch_weight=0.5)
    torch.manual_seed(0)
    eager = train(tiny_config(fmnist_root, tmp_path / "eager", **settings))
    assert marks == []
    graphed = train(tiny_config(fmnist_root, tmp_path / "graphed", compile=True, cuda_graphs=True, **settings))
    assert len(marks) == 3 * 2  # one per D step
    for key in ("loss_d", "loss_g"):
        for x, y in zip(eager[key], graphed[key]):
            assert x == pytest.approx(y, rel=1e-3, abs=1e-4), key


def test_graph_outputs_get_memory_of_their_own():
    """Under CUDA graphs a compiled module's outputs live in memory its next replay overwrites: the
    wrapper hands out copies (gradients still flow), and D always runs its one graph, with features."""
    from dcgan.training.compiled import FreshOutputs

    class Pooled(torch.nn.Module):  # stands in for a graphed module: one output buffer, reused
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(3))
            self.pool = torch.zeros(3)
            self.calls = []

        def forward(self, x, cond=None, with_features=False):
            self.calls.append(with_features)
            out = x * self.w
            return (out, out * 2) if with_features else out

    D = Pooled()
    wrapped = FreshOutputs(D, features=True)
    x = torch.arange(3.0)
    logits = wrapped(x)
    both = wrapped(x, with_features=True)
    assert D.calls == [True, True] and isinstance(both, tuple) and not isinstance(logits, tuple)
    assert logits.data_ptr() != both[0].data_ptr()
    logits.sum().backward()
    assert torch.equal(D.w.grad, x)
    G = FreshOutputs(lambda z, cond=None: D.pool, features=False)
    assert G(x).data_ptr() != D.pool.data_ptr()


def test_compile_without_a_toolchain_is_one_message(fmnist_root, tmp_path, monkeypatch, capsys):
    """--compile where the compiler (CPU: C++; GPU: C and Python.h, for Triton) is missing: one message
    naming what to install, exit 2, before anything trains."""
    from dcgan.cli import main
    from dcgan.training import compiled

    for name in ("CC", "CXX"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(compiled.shutil, "which", lambda name: None)
    assert "no C compiler" in compiled.toolchain_problem("cuda")
    assert "no C++ compiler" in compiled.toolchain_problem("cpu")
    monkeypatch.setattr(compiled.shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(compiled.sysconfig, "get_paths", lambda: {"include": str(tmp_path / "include")})
    assert "no Python headers" in compiled.toolchain_problem("cuda") and compiled.toolchain_problem("cpu") is None
    monkeypatch.setattr(compiled.shutil, "which", lambda name: None)
    args = ["train", "--dataset", "fashion-mnist", "--data-root", str(fmnist_root), "--nz", "16", "--ngf", "8",
            "--ndf", "8", "--max-steps", "2", "--no-progress", "--no-download", "--device", "cpu", "--compile",
            "--out", str(tmp_path / "run")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "--compile needs a compiler toolchain on this machine: no C++ compiler" in err and "Traceback" not in err
    assert "apt-get install g++" in err and not (tmp_path / "run").exists()


@cuda
def test_cuda_paths(fmnist_root, tmp_path):
    images = torch.zeros(10, 1, 32, 32, dtype=torch.uint8)
    assert place_images(images, torch.device("cuda"), True).is_cuda
    assert place_images(images, torch.device("cuda"), False) is images  # no second host copy
    for i, settings in enumerate(({}, {"data_on_device": False},  # batches staged through pinned buffers
                                  {"precision": "bf16", "fused_adam": True, "cudnn_benchmark": True},
                                  {"compile": True, "cuda_graphs": True, "precision": "bf16"},
                                  # D called three ways (features, plain, wrong condition), twice a step
                                  {"compile": True, "cuda_graphs": True, "condition": "class", "d_steps": 2})):
        if settings.get("compile") and toolchain_problem("cuda"):
            pytest.skip(f"--compile on this GPU box: {toolchain_problem('cuda')}")
        out = tmp_path / f"run{i}"  # a folder each: two settings of one size must not share one
        history = train(tiny_config(fmnist_root, out, max_steps=12, device="cuda", **settings))
        assert all(math.isfinite(v) for v in history["loss_d"] + history["loss_g"])
        assert load_checkpoint(out)["iteration"] == 12


@cuda
def test_cuda_resume_is_exact_when_deterministic(fmnist_root, tmp_path):
    # without the rates' tail: a run made longer on resume moves it (as in test_train's CPU twin)
    flat = dict(device="cuda", deterministic=True, lr_decay=0.0)
    a = train(tiny_config(fmnist_root, tmp_path / "a", max_steps=10, **flat))
    train(tiny_config(fmnist_root, tmp_path / "b", max_steps=6, **flat))
    b = train(tiny_config(fmnist_root, tmp_path / "b", max_steps=10, **flat), resume=tmp_path / "b")
    assert a == b


def test_auto_precision_is_measured_and_remembered(tmp_path, monkeypatch):
    from dcgan.training import mixed_precision as precision

    monkeypatch.setenv("DCGAN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(precision, "native_bf16", lambda: True)
    cpu = torch.device("cpu")
    assert precision.choose_precision("fp32", cpu) == "fp32" and precision.choose_precision("bf16", cpu) == "bf16"
    assert precision.choose_precision("auto", torch.device("cuda")) == "fp32"  # nothing to time with: fp32
    timed, said = [], []
    slow_bf16 = {"fp32": 1.0, "bf16": 1.3}  # an Intel Xeon without AMX: bf16 slower

    def time_step(p):
        timed.append(p)
        return slow_bf16[p]

    assert precision.choose_precision("auto", cpu, shape="a", time_step=time_step, say=said.append) == "fp32"
    assert timed == ["fp32", "bf16"] * 3 and "fp32" in said[0] and "remembered" in said[0]  # in turns
    # the second run on this machine and shape reads the answer instead of timing again
    assert precision.choose_precision("auto", cpu, shape="a", time_step=time_step, say=said.append) == "fp32"
    assert len(timed) == 6 and len(said) == 1
    fast_bf16 = {"fp32": 1.0, "bf16": 0.7}  # an EPYC with native bf16
    assert precision.choose_precision("auto", cpu, shape="b", time_step=fast_bf16.get, say=said.append) == "bf16"
    monkeypatch.setattr(precision, "native_bf16", lambda: False)  # emulated bf16: never timed
    assert precision.choose_precision("auto", cpu, shape="c", time_step=None) == "fp32"


def test_auto_precision_on_a_gpu_is_measured_per_gpu_model(tmp_path, monkeypatch):
    """On a GPU, auto times both precisions too, remembered under the GPU's name: an H100's answer
    is not an A10's. GPUs without bf16 tensor cores are not timed."""
    from dcgan.training import mixed_precision as precision

    monkeypatch.setenv("DCGAN_CACHE_DIR", str(tmp_path))
    gpu = torch.device("cuda", 0)
    name = ["NVIDIA H100 80GB HBM3"]
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=None: name[0])
    monkeypatch.setattr(precision, "bf16_can_help", lambda device: device.type == "cuda")
    timed = []

    def launch_bound(p):  # a small model on a GPU: bf16's casts add kernels, nothing gets shorter
        timed.append(p)
        return {"fp32": 1.0, "bf16": 1.1}[p]

    assert precision.choose_precision("auto", gpu, shape="s", time_step=launch_bound, say=print) == "fp32"
    assert precision.choose_precision("auto", gpu, shape="s", time_step=launch_bound, say=print) == "fp32"
    assert timed == ["fp32", "bf16"] * 3  # measured once (three rounds in turns), then remembered
    name[0] = "NVIDIA A10"
    assert precision.choose_precision("auto", gpu, shape="s", time_step={"fp32": 1.0, "bf16": 0.8}.get,
                                      say=print) == "bf16"
    known = (tmp_path / "precision.json").read_text()
    assert "NVIDIA H100" in known and "NVIDIA A10" in known
    monkeypatch.setattr(precision, "bf16_can_help", lambda device: False)  # e.g. a V100
    assert precision.choose_precision("auto", gpu, shape="t", time_step=launch_bound) == "fp32"
    assert len(timed) == 6


def test_step_timer_leaves_the_run_untouched(fmnist_root):
    from dcgan.models import build_models
    from dcgan.settings.config import ObjectiveConfig
    from dcgan.training.mixed_precision import step_timer
    from dcgan.training.steps import Nets, StepRules

    G, D = build_models(nz=16, ngf=8, ndf=8, nc=1, image_size=32)
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    before = [p.clone() for p in G.parameters()] + [p.clone() for p in D.parameters()]
    batch = torch.rand(8, 1, 32, 32) * 2 - 1
    rng = torch.get_rng_state()
    seconds = step_timer(Nets.plain(G, D), opt_g, opt_d, StepRules(ObjectiveConfig(), nz=16),
                         lambda: (batch, None), steps=2, warmup=1)("fp32")
    assert seconds > 0 and torch.equal(rng, torch.get_rng_state()) and not opt_g.state
    assert all(torch.equal(a, b) for a, b in zip(before, list(G.parameters()) + list(D.parameters())))


def test_placement_asks_for_free_memory_as_old_torch_accepts(monkeypatch):
    """torch before 2.5 refuses mem_get_info(torch.device("cuda")) (no index): the placement passes
    the GPU's index, so every torch that requirements.txt accepts can train on a GPU."""
    asked = []

    def mem_get_info(device=None):  # as torch 2.2-2.4 behave
        if not isinstance(device, int) and getattr(device, "index", 0) is None:
            raise ValueError("Expected a torch.device with a specified index or an integer")
        asked.append(device)
        return 0, 80 * 2**30  # nothing free: the data stays on the host

    monkeypatch.setattr(torch.cuda, "mem_get_info", mem_get_info)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    images = torch.zeros(10, 1, 32, 32, dtype=torch.uint8)
    assert place_images(images, torch.device("cuda"), True) is images
    assert place_images(images, torch.device("cuda", 1), True) is images
    assert asked == [0, 1]


@cuda
def test_cuda_deterministic_run_trains_its_missing_classifier(fmnist_root, tmp_path):
    """--deterministic with --eval-every on a GPU, no classifier yet: the classifier (whose pooling has
    no deterministic CUDA backward) trains outside deterministic mode; the run stays deterministic."""
    root = tmp_path / "data"
    shutil.copytree(fmnist_root / "fashion-mnist", root / "fashion-mnist")
    history = train(tiny_config(root, tmp_path / "r", max_steps=10, eval_every=5, eval_n=100, device="cuda",
                                deterministic=True))
    assert (root / "classifiers" / "fashion-mnist-32px-1ch.pt").is_file() and len(history.evals) == 2
    assert torch.are_deterministic_algorithms_enabled() is False  # the process's setting is back


@pytest.mark.cuda
@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA GPUs")
def test_pinned_batches_for_a_second_gpu(fmnist_root, tmp_path):
    """--device cuda:1 in one process (the current GPU stays 0): each buffer is refilled only after its
    copy on cuda:1's stream is done, so every batch arrives intact."""
    from dcgan.data.batches import RealBatches
    from dcgan.data.batches import batch_stream
    from dcgan.data.dataset import load_dataset, to_model_range
    from dcgan.settings.config import DataConfig

    ds = load_dataset(DataConfig(data_root=str(fmnist_root), download=False), progress=False)
    order = batch_stream(len(ds), 64, seed=3, start=0)
    with RealBatches(ds.images, None, 64, seed=3, start=0, device=torch.device("cuda", 1)) as batches:
        for _ in range(40):
            real, _ = batches()
            assert real.device == torch.device("cuda", 1)
            assert torch.equal(real.cpu(), to_model_range(ds.images[next(order)]))


def test_fused_adam_on_a_cpu_with_an_old_torch_is_one_message(monkeypatch):
    """requirements.txt accepts torch 2.2, whose fused Adam runs on GPUs only: the setting is named."""
    from dcgan.settings.config import Config, ConfigError
    from dcgan.training.state import make_optimizer

    monkeypatch.setattr(torch, "__version__", "2.3.1+cpu")
    model = torch.nn.Linear(2, 2)
    with pytest.raises(ConfigError, match=r"--fused-adam on a CPU needs torch 2.4 or newer \(this is 2.3.1"):
        make_optimizer(model, 1e-3, Config.from_flat(fused_adam=True))
    assert make_optimizer(model, 1e-3, Config.from_flat()).defaults["lr"] == 1e-3


def test_auto_precision_is_written_down_kept_on_resume_and_fp32_when_deterministic(fmnist_root, tmp_path,
                                                                                   monkeypatch):
    """The precision auto chose is in config.json and the checkpoint; a resume keeps it even where a
    new timing would choose otherwise (another GPU); --deterministic with auto trains in fp32, untimed."""
    import json

    from dcgan.training import loop as train_module
    from dcgan.training import mixed_precision as precision

    monkeypatch.setattr(precision, "bf16_can_help", lambda device: True)
    timings = {"fp32": 1.0, "bf16": 0.5}
    monkeypatch.setattr(train_module, "step_timer", lambda *a, **k: lambda p: timings[p])
    monkeypatch.setenv("DCGAN_CACHE_DIR", str(tmp_path / "cache-a"))
    run = tmp_path / "run"
    train(tiny_config(fmnist_root, run, max_steps=2, precision="auto"))
    assert json.loads((run / "config.json").read_text())["provenance"]["precision"] == "bf16"
    assert load_checkpoint(run)["precision"] == "bf16"
    timings.update(fp32=0.5, bf16=1.0)  # what a timing on another machine would find
    monkeypatch.setenv("DCGAN_CACHE_DIR", str(tmp_path / "cache-b"))
    train(tiny_config(fmnist_root, run, max_steps=4, precision="auto"), resume=run)
    assert load_checkpoint(run)["precision"] == "bf16"
    assert json.loads((run / "config.json").read_text())["provenance"]["precision"] == "bf16"
    monkeypatch.setattr(train_module, "step_timer", lambda *a, **k: lambda p: pytest.fail("timed when deterministic"))
    train(tiny_config(fmnist_root, tmp_path / "det", max_steps=2, precision="auto", deterministic=True))
    assert load_checkpoint(tmp_path / "det")["precision"] == "fp32"
