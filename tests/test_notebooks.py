"""Every notebook runs top to bottom headless with tiny parameters, and produces what it promises."""

import json
from pathlib import Path

import pytest
import torch

from conftest import REPO


papermill = pytest.importorskip("papermill")
NOTEBOOKS = REPO / "notebooks"


def execute(name, workdir, notebook=None, **parameters):
    """Run notebooks/<name> (or the edited copy `notebook`) in notebooks/, as a user's Jupyter would; on the
    CPU where the notebook has a device setting (on a GPU box `auto` would take the GPU's recipe settings)."""
    source = json.loads(Path(notebook or NOTEBOOKS / name).read_text())
    if any(line.startswith("device = ") for c in source["cells"]
           if "parameters" in c.get("metadata", {}).get("tags", []) for line in c["source"]):
        parameters.setdefault("device", "cpu")
    output = Path(workdir) / name
    papermill.execute_notebook(str(notebook or NOTEBOOKS / name), str(output), parameters=parameters,
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

    from dcgan.evaluation.evaluate import evaluate_checkpoint, make_space
    from dcgan.evaluation.features import ensure_classifier, train_classifier
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


TINY = {"nz": 16, "ngf": 8, "ndf": 8, "checkpoint-every": 8}  # settings the parameters cell leaves to overrides
TINY_TRAIN = dict(batch_size=32, snapshot_every=8, overrides={**TINY, "max-steps": 24})


@pytest.fixture(scope="module")
def trained_run(fmnist_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("nb")
    nb = execute("02_train.ipynb", out, data_root=str(fmnist_root), out_dir=str(out / "runs"), **TINY_TRAIN)
    (run,) = (out / "runs").iterdir()  # the notebook's runs folder holds one run per setting
    return run, nb


def test_train_notebook(trained_run):
    run, nb = trained_run
    for name in ("checkpoints/last.pt", "history.csv", "progress.html", "real_vs_fake.png", "loss.png",
                 "samples/step_0000008.png", "samples/step_0000024.png"):
        assert (run / name).is_file(), name
    text = text_of(nb)
    assert f"new run {run}: the first run in {run.parent}" in text
    streams = [o for c in nb["cells"] for o in c.get("outputs", []) if o.get("output_type") == "stream"]
    assert any("done: 24 iterations" in "".join(o["text"]) for o in streams if o["name"] == "stdout")
    assert not any("done:" in "".join(o["text"]) for o in streams if o["name"] == "stderr")  # not painted as an error
    # every setting in effect, printed from the configuration; the overrides marked as the recipe's exceptions
    assert "lr_g=0.0012" in text and "ema_decay=0.999" in text and "r1_every=16" in text
    assert "* differs from the r1-ema-b32 recipe: nz, ngf, ndf, max_steps, snapshot_every, checkpoint_every" in text
    saved = json.loads((run / "config.json").read_text())  # the default recipe reaches the run
    assert (saved["objective"]["grad_clip"], saved["train"]["lr_g"], saved["objective"]["ema_decay"]) == (10.0, 1.2e-3, 0.999)
    assert "_anim_img" in text  # the inline animation player
    assert images_in(nb) >= 3  # live grid / loss plots, the curves, real vs fake


def _files(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _copy_runs(trained_run, tmp_path):
    import shutil

    run, _ = trained_run
    runs = tmp_path / "runs"
    shutil.copytree(run.parent, runs)
    return runs, runs / run.name


def test_train_notebook_edited_setting_is_a_new_run(trained_run, fmnist_root, tmp_path):
    runs, old = _copy_runs(trained_run, tmp_path)
    before = _files(old)
    nb = execute("02_train.ipynb", tmp_path, data_root=str(fmnist_root), out_dir=str(runs),
                 **{**TINY_TRAIN, "lr": 1e-4})
    (new,) = set(runs.iterdir()) - {old}
    text = text_of(nb)
    assert f"new run {new}: lr 0.0004 -> 0.0001, lr_g 0.0012 -> 0.0003 against {old.name}" in text
    assert len((new / "history.csv").read_text().splitlines()) == 1 + 24  # its full length
    assert json.loads((new / "config.json").read_text())["train"]["lr"] == 1e-4
    assert _files(old) == before  # the earlier run untouched
    assert f"run folder: {new.resolve()}" in text  # the result cells show the run just trained


def _with_stop_at(step, tmp_path):
    """notebooks/02_train.ipynb with one cell added before training: at iteration `step` it sends the
    kernel SIGINT, as Jupyter's stop button does."""
    nb = json.loads((NOTEBOOKS / "02_train.ipynb").read_text())
    at = next(i for i, c in enumerate(nb["cells"]) if "plan_run(" in "".join(c["source"]))
    stop = (f"import os, signal\n_train = train\n\ndef train(config, resume=None, on_snapshot=None):\n"
            f"    def press_stop(step, path, history):\n        on_snapshot(step, path, history)\n"
            f"        if step == {step}:\n            os.kill(os.getpid(), signal.SIGINT)\n"
            f"    return _train(config, resume=resume, on_snapshot=press_stop)\n")
    nb["cells"].insert(at + 1, {"cell_type": "code", "id": "press-stop", "metadata": {}, "execution_count": None, "outputs": [],
                                "source": stop})
    path = tmp_path / "02_train_stopped.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_train_notebook_unchanged_rerun_continues_a_stopped_run_exactly(trained_run, fmnist_root, tmp_path):
    from dcgan.checkpoint import load_checkpoint

    runs = tmp_path / "runs"
    first = execute("02_train.ipynb", tmp_path, notebook=_with_stop_at(8, tmp_path), data_root=str(fmnist_root),
                    out_dir=str(runs), **TINY_TRAIN)
    (run,) = runs.iterdir()
    assert "stopped at iteration 8" in text_of(first)
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 8
    again = execute("02_train.ipynb", tmp_path, data_root=str(fmnist_root), out_dir=str(runs), **TINY_TRAIN)
    assert f"continuing {run} at iteration 8 of 24: same settings, it stopped (interrupted)" in text_of(again)
    assert list(runs.iterdir()) == [run]
    # the same as the run trained in one go, iteration by iteration and weight by weight
    straight, _ = trained_run
    assert (run / "history.csv").read_text() == (straight / "history.csv").read_text()
    a, b = load_checkpoint(run), load_checkpoint(straight)
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.equal(a[net][k], b[net][k]), (net, k)


def test_train_notebook_extends_a_finished_run_when_asked(trained_run, fmnist_root, tmp_path):
    runs, old = _copy_runs(trained_run, tmp_path)
    nb = execute("02_train.ipynb", tmp_path, data_root=str(fmnist_root), out_dir=str(runs),
                 **{**TINY_TRAIN, "overrides": {**TINY, "max-steps": 32}}, extend=True)
    assert f"extending {old} from 24 iterations to 32 iterations (at iteration 24)" in text_of(nb)
    assert list(runs.iterdir()) == [old]
    assert len((old / "history.csv").read_text().splitlines()) == 1 + 32


def test_results_notebook(trained_run, fmnist_root, tmp_path):
    run, _ = trained_run
    nb = execute("03_results.ipynb", tmp_path, run_dir=str(run), data_root=str(fmnist_root), n_samples=16,
                 interpolation_steps=5, n_memorisation=2, neighbours=3)
    text = text_of(nb)
    assert "iterations on fashion-mnist 32x32" in text and "nearest distances" in text
    assert "_anim_img" in text
    assert images_in(nb) >= 5


def test_results_notebook_on_an_exported_generator(trained_run, fmnist_root, tmp_path):
    """03 takes an exported G.safetensors as it takes a run: samples, interpolation, the explorer, a walk and
    the memorisation check; the parts only a run has (history, snapshots) are left out."""
    from dcgan import export_generator

    run, _ = trained_run
    shared = export_generator(run, tmp_path / "shared" / "G.safetensors")
    nb = execute("03_results.ipynb", tmp_path, run_dir=str(shared), data_root=str(fmnist_root), n_samples=16,
                 interpolation_steps=5, n_memorisation=2, neighbours=3, explore_directions=2)
    text = text_of(nb)
    assert f"exported generator {shared.resolve()}: 24 iterations on fashion-mnist 32x32" in text
    assert "no snapshots here" in text and "nearest distances" in text
    assert (tmp_path / "shared" / "walk.gif").is_file() and not (tmp_path / "shared" / "progress.gif").exists()


def test_evaluate_notebook(trained_run, fmnist_root, tmp_path):
    from dcgan import export_generator

    run, _ = trained_run
    shared = export_generator(run, tmp_path / "G.safetensors")  # an exported G is scored as a run is
    nb = execute("04_evaluate.ipynb", tmp_path, runs=[str(run), str(shared)], data_root=str(fmnist_root),
                 classifier=str(tmp_path / "cls.pt"), classifier_epochs=1, n=200)
    text = text_of(nb)
    assert "<td>G.safetensors</td><td>24</td>" in text and (tmp_path / "G.metrics.json").is_file()
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
                 classifier_epochs=1, out_root=str(out), variants=variants, ladder=False)
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
    runs, attrs = tmp_path / "cond", tmp_path / "attrs"
    nb = execute("06_conditional.ipynb", tmp_path, data_root=str(fmnist_root), batch_size=32,
                 overrides={"nz": 16, "ngf": 8, "ndf": 8, "max-steps": 6}, out_dir=str(runs), per_class=4,
                 interpolation_steps=4, n_scored=200, classifier_path=str(tmp_path / "cls.pt"), classifier_epochs=1,
                 attr_images=96, attr_max_steps=4, attr_dir=str(attrs))
    text = text_of(nb)
    (run,) = runs.iterdir()
    (attr_run,) = (attrs / "runs").iterdir()
    assert f"new run {run}: the first run in {runs}" in text and f"new run {attr_run}" in text
    assert "10 classes: T-shirt/top, Trouser" in text and "class accuracy" in text
    assert images_in(nb) >= 6  # losses, class grid, interpolation, per-class FID, tag toggles
    cfg = json.loads((run / "config.json").read_text())
    # the recipe's conditional settings reach the run
    assert cfg["model"]["condition"] == "class" and cfg["objective"]["mismatch_weight"] == 0.5
    assert cfg["objective"]["mode_seeking"] == 0.5 and cfg["objective"]["penalty_clip"] == "joint" and "mismatch_weight=0.5" in text
    assert cfg["objective"]["ema_rampup"] == 0.05 and "mode_seeking=0.5" in text
    tags = attrs / "fashion-mnist-32px-96" / "tags.csv"  # the tagged folder these settings made
    assert tags.read_text().startswith("filename,upper_body,footwear,dark,bright")
    state = torch.load(attr_run / "checkpoints" / "last.pt", weights_only=True)
    assert state["cond_names"] == ["upper_body", "footwear", "dark", "bright"]


def test_results_notebook_on_a_conditional_ema_run(fmnist_root, tmp_path):
    """The newest run may be conditional (after 06): 03 samples it with its classes and says so."""
    from dcgan.training.loop import train

    from conftest import tiny_config

    run = tmp_path / "outputs" / "cond"
    train(tiny_config(fmnist_root, run, max_steps=4, snapshot_every=2, checkpoint_every=2, condition="class",
                      ema_decay=0.9))
    nb = execute("03_results.ipynb", tmp_path, outputs_root=str(tmp_path / "outputs"), data_root=str(fmnist_root),
                 n_samples=10, interpolation_steps=4, n_memorisation=2, neighbours=2)
    text = text_of(nb)
    assert "class-conditional generator: samples go through the 10 classes in turn" in text
    assert "nearest distances" in text and images_in(nb) >= 5


def test_train_notebook_in_the_background_returns_at_once(fmnist_root, tmp_path):
    """background = True: the run trains in a `dcgan train` process of its own, watched from the cell; the
    notebook finishes while it trains, and the run ends on its own."""
    import time

    from dcgan.lab.watch import read_run

    runs = tmp_path / "runs"
    nb = execute("02_train.ipynb", tmp_path, data_root=str(fmnist_root), out_dir=str(runs), background=True,
                 **{**TINY_TRAIN, "overrides": {**TINY, "max-steps": 200}})
    run = Path(text_of(nb).split("new run ", 1)[1].split(":", 1)[0])  # the folder the notebook named
    assert run.parent == runs and f"{run.name}: iteration" in text_of(nb)  # the watcher's status line
    assert "<dcgan.lab.watch.Watcher" not in text_of(nb)  # the view is the cell's whole output
    deadline = time.time() + 300
    while read_run(run).status != "finished":
        assert time.time() < deadline, (run / "train.log").read_text()[-2000:]
        time.sleep(1)
    assert read_run(run).iteration == 200 and "done: 200 iterations" in (run / "train.log").read_text()
    # Run All again, unchanged: nothing trains, and the training cell shows the run as it ended
    again = text_of(execute("02_train.ipynb", tmp_path, data_root=str(fmnist_root), out_dir=str(runs),
                            **{**TINY_TRAIN, "overrides": {**TINY, "max-steps": 200}}))
    assert "already trained its 200 iterations" in again and "iteration 200 of 200" in again
    assert "- finished</b>" in again and "(final, " in again and "_anim_img" in again  # the line, the player
    assert "waiting for the first snapshot" not in again


def test_compare_notebook(fmnist_root, tmp_path):
    from dcgan.training.loop import train

    from conftest import tiny_config

    for name, lr in (("slow", 1e-4), ("fast", 4e-4)):
        train(tiny_config(fmnist_root, tmp_path / "outputs" / name, max_steps=6, snapshot_every=3, lr=lr,
                          eval_every=3 if name == "fast" else 0, eval_n=100, classifier=""))
    nb = execute("07_compare.ipynb", tmp_path, outputs_root=str(tmp_path / "outputs"))
    text = text_of(nb)
    assert "<th>lr</th>" in text and "<td>slow</td>" in text and "<th>eval_every</th>" in text
    assert images_in(nb) >= 3  # grids, losses, FID against minutes


def test_sweep_notebook_and_its_rerun(fmnist_root, tmp_path):
    pytest.importorskip("optuna")
    from dcgan import DataConfig
    from dcgan.evaluation.features import train_classifier

    classifier = tmp_path / "classifier.pt"
    train_classifier(DataConfig(data_root=str(fmnist_root), download=False), epochs=1, out=classifier, device="cpu",
                     progress=False)
    tiny = dict(data_root=str(fmnist_root), out_dir=str(tmp_path / "sweep"), classifier=str(classifier), eval_n=100,
                space={"lr": [2e-4, 4e-4, 8e-4], "ema-decay": {"low": 0.9, "high": 0.99}}, sampler="random",
                settings={"dataset": "fashion-mnist", "image-size": 32, "max-steps": 12, "snapshot-every": 6,
                          "checkpoint-every": 6, "nz": 16, "ngf": 8, "ndf": 8, "download": False})
    nb = execute("08_sweep.ipynb", tmp_path, trials=3, **tiny)
    text = text_of(nb)
    assert text.count("<td>complete</td>") == 3 and "<th>ema_decay</th>" in text and "best: trial" in text
    assert images_in(nb) >= 4  # the best grids, the history, the importances, the parallel coordinates
    # Run All again with a larger budget: the study goes on from its three trials
    again = text_of(execute("08_sweep.ipynb", tmp_path, trials=4, **tiny))
    assert again.count("<td>complete</td>") == 4 and sorted(p.name for p in (tmp_path / "sweep" / "trials").iterdir()) \
        == ["0000", "0001", "0002", "0003"]
