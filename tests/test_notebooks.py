"""Every notebook runs top to bottom headless with tiny parameters, and produces what it promises."""

import json
from pathlib import Path

import pytest
import torch

from conftest import REPO

papermill = pytest.importorskip("papermill")
NOTEBOOKS = REPO / "notebooks"


def execute(name, workdir, **parameters):
    output = Path(workdir) / name
    papermill.execute_notebook(str(NOTEBOOKS / name), str(output), parameters=parameters,
                               cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False)
    nb = json.loads(output.read_text())
    errors = [o for c in nb["cells"] if c["cell_type"] == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors
    return nb


def text_of(nb):
    parts = []
    for cell in nb["cells"]:
        for o in cell.get("outputs", []):
            parts.append("".join(o.get("text", "")))
            parts.append("".join(o.get("data", {}).get("text/plain", "")))
            parts.append("".join(o.get("data", {}).get("text/html", "")))
    return "\n".join(parts)


def images_in(nb):
    return sum("image/png" in o.get("data", {}) for c in nb["cells"] for o in c.get("outputs", []))


def test_committed_without_outputs():
    for path in NOTEBOOKS.glob("*.ipynb"):
        nb = json.loads(path.read_text())
        tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(tagged) == 1, f"{path.name} needs exactly one cell tagged 'parameters'"
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert not cell["outputs"] and cell["execution_count"] is None, \
                    f"{path.name} has outputs: run `make strip-notebooks`"


def test_gpu_where_there_is_one():
    """Sampling and scoring notebooks run on the GPU of a GPU box: each names a device in its
    parameters, auto by default, as the API's functions and the CLI default to."""
    import inspect

    from dcgan.evaluate import evaluate_checkpoint, make_space
    from dcgan.features import ensure_classifier, train_classifier
    from dcgan.sample import load_generator

    for fn in (load_generator, evaluate_checkpoint, make_space, ensure_classifier, train_classifier):
        assert inspect.signature(fn).parameters["device"].default == "auto", fn.__name__
    for name in ("02_train", "03_results", "04_evaluate", "05_objectives", "06_conditional"):
        nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text())
        cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
        assert 'device = "auto"' in "".join(cell["source"]), name
        code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        for call in ("load_generator(", "evaluate_checkpoint(", "ensure_classifier("):
            for use in code.split(call)[1:]:
                assert "device" in use.split("\n)")[0].split(")\n")[0], f"{name}: {call} without the device"


def test_data_preview(fmnist_root, tmp_path):
    nb = execute("01_data_preview.ipynb", tmp_path, data_root=str(fmnist_root), n_show=16)
    text = text_of(nb)
    assert "1024 images, 1 channel(s), 32x32 pixels" in text
    assert str(fmnist_root) in text and "Ankle boot" in text and "channel 0: mean" in text
    assert images_in(nb) >= 2  # the grid and the class histogram


@pytest.fixture(scope="module")
def trained_run(fmnist_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("nb")
    run = out / "run"
    nb = execute("02_train.ipynb", out, data_root=str(fmnist_root), nz=16, ngf=8, ndf=8, batch_size=32,
                 epochs=0, max_steps=24, snapshot_every=8, checkpoint_every=8, out_dir=str(run))
    return run, nb


def test_train_notebook(trained_run):
    run, nb = trained_run
    for name in ("checkpoints/last.pt", "history.csv", "progress.html", "real_vs_fake.png", "loss.png",
                 "samples/step_0000008.png", "samples/step_0000024.png"):
        assert (run / name).is_file(), name
    text = text_of(nb)
    assert "starting the run in" in text
    # the default recipe reaches the run
    assert ("recipe r1-ema-b32: batch_size=32, grad_clip=10.0, lr=0.0004 (G: 0.0012), ema_decay=0.999, "
            "label_smoothing=0.1, r1_weight=0.1 (every 16, clip own), lr_decay=0.25") in text
    objective = json.loads((run / "config.json").read_text())["objective"]
    assert (objective["grad_clip"], objective["lr_g"], objective["ema_decay"]) == (10.0, 1.2e-3, 0.999)
    assert "_anim_img" in text  # the inline animation player
    assert images_in(nb) >= 3  # live grid / loss plots, the curves, real vs fake


def test_train_notebook_resumes(trained_run, fmnist_root, tmp_path):
    run, _ = trained_run
    nb = execute("02_train.ipynb", tmp_path, data_root=str(fmnist_root), nz=16, ngf=8, ndf=8,
                 batch_size=32, epochs=0, max_steps=32, snapshot_every=8, checkpoint_every=8,
                 out_dir=str(run))
    assert "continuing the run in" in text_of(nb)
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 32


def test_results_notebook(trained_run, fmnist_root, tmp_path):
    run, _ = trained_run
    nb = execute("03_results.ipynb", tmp_path, run_dir=str(run), data_root=str(fmnist_root), n_samples=16,
                 interpolation_steps=5, n_memorisation=2, neighbours=3)
    text = text_of(nb)
    assert "iterations on fashion-mnist 32x32" in text and "nearest distances" in text
    assert "_anim_img" in text
    assert images_in(nb) >= 5


def test_evaluate_notebook(trained_run, fmnist_root, tmp_path):
    run, _ = trained_run
    nb = execute("04_evaluate.ipynb", tmp_path, runs=[str(run)], data_root=str(fmnist_root),
                 classifier=str(tmp_path / "cls.pt"), classifier_epochs=1, n=200)
    text = text_of(nb)
    assert "training one" in text and "test accuracy" in text
    assert "fid_fmnist_cnn" in text and "real-vs-real floor" in text
    assert (run / "metrics.json").is_file()
    assert images_in(nb) >= 2


def test_objectives_notebook(fmnist_root, tmp_path):
    out = tmp_path / "objectives"
    variants = {"classic": {}, "wgan-gp": {"loss": "wgan-gp"},
                "hinge + sn + ema": {"loss": "hinge", "spectral_norm": True, "ema_decay": 0.99}}
    nb = execute("05_objectives.ipynb", tmp_path, data_root=str(fmnist_root), nz=16, ngf=8, ndf=8,
                 batch_size=32, epochs=0, max_steps=6, eval_n=200, classifier=str(tmp_path / "cls.pt"),
                 classifier_epochs=1, out_root=str(out), variants=variants)
    text = text_of(nb)
    assert "fid_fmnist_cnn" in text and "vs classic" in text
    assert images_in(nb) >= 7  # grids, four rows of panels, early gradients, FID bars
    # the notebook's parameters reach each run's config (and so its checkpoint)
    gp = json.loads((out / "wgan-gp" / "config.json").read_text())
    assert gp["objective"]["loss"] == "wgan-gp" and gp["objective"]["d_steps"] == 5
    combo = json.loads((out / "hinge-sn-ema" / "config.json").read_text())
    assert combo["model"]["spectral_norm"] and combo["objective"]["ema_decay"] == 0.99
    assert "G_ema" in torch.load(out / "hinge-sn-ema" / "checkpoints" / "last.pt", weights_only=True)


def test_conditional_notebook(fmnist_root, tmp_path):
    run, attrs = tmp_path / "cond", tmp_path / "attrs"
    nb = execute("06_conditional.ipynb", tmp_path, data_root=str(fmnist_root), nz=16, ngf=8, ndf=8,
                 batch_size=32, epochs=0, max_steps=6, out_dir=str(run), per_class=4,
                 interpolation_steps=4, eval_n=200, classifier=str(tmp_path / "cls.pt"), classifier_epochs=1,
                 attr_images=96, attr_max_steps=4, attr_dir=str(attrs))
    text = text_of(nb)
    assert "10 classes: T-shirt/top, Trouser" in text and "class accuracy" in text
    assert images_in(nb) >= 6  # losses, class grid, interpolation, per-class FID, tag toggles
    cfg = json.loads((run / "config.json").read_text())
    # the recipe's conditional settings reach the run
    assert cfg["model"]["condition"] == "class" and cfg["objective"]["mismatch_weight"] == 0.5
    assert cfg["objective"]["mode_seeking"] == 0.5 and cfg["objective"]["penalty_clip"] == "joint" and "mismatch_weight=0.5, mode_seeking=0.5" in text
    assert cfg["objective"]["ema_rampup"] == 0.05 and "ema_rampup=0.050" in text
    assert (attrs / "tags.csv").read_text().startswith("filename,upper_body,footwear,dark,bright")
    state = torch.load(attrs / "run" / "checkpoints" / "last.pt", weights_only=True)
    assert state["cond_names"] == ["upper_body", "footwear", "dark", "bright"]


def test_results_notebook_on_a_conditional_ema_run(fmnist_root, tmp_path):
    """The newest run may be conditional (after 06): 03 samples it with its classes and says so."""
    from dcgan.train import train

    from conftest import tiny_config

    run = tmp_path / "outputs" / "cond"
    train(tiny_config(fmnist_root, run, max_steps=4, snapshot_every=2, checkpoint_every=2, condition="class",
                      ema_decay=0.9))
    nb = execute("03_results.ipynb", tmp_path, outputs_root=str(tmp_path / "outputs"), data_root=str(fmnist_root),
                 n_samples=10, interpolation_steps=4, n_memorisation=2, neighbours=2)
    text = text_of(nb)
    assert "class-conditional generator: samples go through the 10 classes in turn" in text
    assert "nearest distances" in text and images_in(nb) >= 5
