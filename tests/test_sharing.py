"""What people share and read back: exported generators, provenance, metric names, the public API, the
command line's help and --config, and the dcgan logger."""

import json
import logging

import pytest
import torch

import dcgan
from dcgan.cli import main
from dcgan.training.loop import train

from conftest import REPO, tiny_config


@pytest.fixture(scope="module")
def runs(fmnist_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")
    train(tiny_config(fmnist_root, root / "ema", max_steps=6, snapshot_every=3, checkpoint_every=6, ema_decay=0.9))
    train(tiny_config(fmnist_root, root / "cond", max_steps=4, snapshot_every=2, checkpoint_every=4,
                      condition="class"))
    return root


@pytest.mark.parametrize("name", ["ema", "cond"])
def test_exported_generator_samples_as_the_run_does(runs, tmp_path, name, capsys):
    out = tmp_path / f"{name}.safetensors"
    assert main(["export", str(runs / name), "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    from safetensors import safe_open

    with safe_open(str(out), framework="pt") as f:  # a plain safetensors file, its settings as metadata
        meta = f.metadata()
    assert meta["format"] == "dcgan-generator" and meta["weights"] == "ema"  # the default recipe keeps an EMA G
    assert json.loads(meta["provenance"])["dcgan"] == dcgan.__version__
    from_run = dcgan.load_generator(runs / name, "cpu")
    from_file = dcgan.load_generator(out, "cpu")
    assert from_file.cond_names == from_run.cond_names and from_file.nz == from_run.nz
    assert torch.equal(dcgan.generate(from_run, 12, seed=5), dcgan.generate(from_file, 12, seed=5))
    # the command line takes the file as it takes a run
    assert main(["sample", str(out), "--n", "8", "--out", str(tmp_path / "grid.png"), "--seed", "5"]) == 0
    assert (tmp_path / "grid.png").is_file()


def test_a_file_that_is_not_an_exported_generator_is_refused(runs, tmp_path, capsys):
    not_one = tmp_path / "notes.safetensors"
    not_one.write_text("not tensors")
    assert main(["sample", str(not_one), "--out", str(tmp_path / "x.png")]) == 2
    assert "is not a safetensors file" in capsys.readouterr().err
    from safetensors.torch import save_file

    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other))
    assert main(["sample", str(other), "--out", str(tmp_path / "x.png")]) == 2
    assert "holds tensors but not a dcgan generator" in capsys.readouterr().err
    assert main(["export", str(runs / "ema"), "--out", str(tmp_path / "G.pt")]) == 2
    assert "should end in .safetensors" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_evaluating_an_exported_generator_and_provenance(runs, fmnist_root, tmp_path):
    config = json.loads((runs / "ema" / "config.json").read_text())
    record = config["provenance"]
    assert record["dcgan"] == dcgan.__version__ and record["torch"] == torch.__version__
    assert record["device_name"] == "cpu" and record["cuda"] is None
    if (REPO / ".git").exists():
        assert len(record["commit"].split("-")[0]) == 40  # the checkout's commit (-dirty when files differ)
    dcgan.Config.from_dict(config)  # config.json still reads as settings

    out = tmp_path / "G.safetensors"
    dcgan.export_generator(runs / "ema", out)
    classifier = tmp_path / "cls.pt"
    from dcgan.evaluation.features import train_classifier

    train_classifier(dcgan.DataConfig(data_root=str(fmnist_root)), epochs=1, out=classifier, device="cpu")
    result = dcgan.evaluate_checkpoint(out, n=200, classifier=classifier, device="cpu", real_n=0)
    assert result["n_real"] == 1024 and result["real_split"] == "train"  # real_n=0: the whole split
    assert result["generator"] == "ema" and result["iteration"] == 6
    saved = json.loads((tmp_path / "G.metrics.json").read_text())
    assert saved["provenance"]["dcgan"] == dcgan.__version__
    assert "class_coverage_fmnist_cnn" in saved["metrics"] and "coverage_fmnist_cnn" not in saved["metrics"]


def test_older_files_read_with_todays_metric_names(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"metrics": {"fid_fmnist_cnn": 9.0, "coverage_fmnist_cnn": 1.0}}))
    (tmp_path / "evals.csv").write_text("iteration,seconds,fid_fmnist_cnn,coverage_fmnist_cnn\n10,1.5,30.0,0.9\n")
    assert dcgan.read_metrics(tmp_path)["metrics"] == {"fid_fmnist_cnn": 9.0, "class_coverage_fmnist_cnn": 1.0}
    assert dcgan.read_evals(tmp_path) == [{"iteration": 10.0, "seconds": 1.5, "fid_fmnist_cnn": 30.0,
                                           "class_coverage_fmnist_cnn": 0.9}]


def test_precision_recall_is_the_papers_definition():
    """torch-fidelity's precision and recall against the definition written out: a fake counts when it lies
    within some real sample's k-th-neighbour radius (precision), and the other way round (recall)."""
    from dcgan.evaluation.metrics import precision_recall

    g = torch.Generator().manual_seed(3)
    real, fake = torch.randn(300, 5, generator=g), torch.randn(200, 5, generator=g) * 1.4 + 0.3

    def share_inside(points, centres, k=3):
        radii = torch.cdist(centres, centres).kthvalue(k + 1, dim=1).values
        return (torch.cdist(points, centres) <= radii[None]).any(1).float().mean().item()

    p, r = precision_recall(real, fake)
    assert p == pytest.approx(share_inside(fake, real)) and r == pytest.approx(share_inside(real, fake))
    assert 0.2 < p < 0.9 and r > p  # a wider fake cloud: many fakes outside the data, most data inside it


def test_public_api_and_notebooks_use_it():
    for name in dcgan.__all__:
        assert hasattr(dcgan, name), name
    for path in (REPO / "notebooks").glob("*.ipynb"):
        code = "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"]
                         if c["cell_type"] == "code")
        assert "sys.path" not in code, path.name
        imports = [line for line in code.splitlines() if "dcgan" in line and "import" in line]
        assert imports and all(line.startswith("from dcgan import ") for line in imports), (path.name, imports)


def test_help_is_grouped_with_choices(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    page = capsys.readouterr().out
    for title in ("model:", "data:", "training:", "objective:", "output:"):
        assert title in page, title
    assert "--loss {bce,minimax,wgan,wgan-gp,hinge,lsgan,ragan,rpgan}" in page
    output = page.split("output:")[1].split("objective:")[0] if page.index("output:") < page.index("objective:") \
        else page.split("output:")[1]
    assert "--snapshot-every" in output and "--out" in output


def test_config_starts_a_new_run_from_another_runs_settings(runs, fmnist_root, tmp_path, capsys):
    new = tmp_path / "again"
    assert main(["train", "--config", str(runs / "ema" / "config.json"), "--max-steps", "3", "--out", str(new),
                 "--data-root", str(fmnist_root)]) == 0
    old, now = json.loads((runs / "ema" / "config.json").read_text()), json.loads((new / "config.json").read_text())
    assert now["objective"]["ema_decay"] == 0.9 and now["model"]["ngf"] == old["model"]["ngf"] == 8  # its settings
    assert now["train"]["max_steps"] == 3  # the flag wins
    assert main(["train", "--config", str(runs / "ema"), "--resume", str(runs / "ema")]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["train", "--config", str(tmp_path / "missing.json")]) == 2
    assert "--config" in capsys.readouterr().err


def test_messages_go_through_the_dcgan_logger(fmnist_root, tmp_path, capsys):
    from dcgan.log import logger

    log = logger()  # with its default handler, which the test puts back
    caught = []

    class Keep(logging.Handler):
        def emit(self, record):
            caught.append(record.getMessage())

    handlers, level = log.handlers[:], log.level
    try:
        log.handlers = [Keep()]  # redirected
        train(tiny_config(fmnist_root, tmp_path / "a", max_steps=2))
        assert any(m.startswith("done: 2 iterations") for m in caught)
        assert "done:" not in capsys.readouterr().err
        log.handlers = handlers
        log.setLevel(logging.WARNING)  # silenced
        train(tiny_config(fmnist_root, tmp_path / "b", max_steps=2))
        assert "done:" not in capsys.readouterr().err
    finally:
        log.handlers = handlers
        log.setLevel(level)  # setLevel, not .level: the logger caches what each level lets through
