"""Metrics against known values, the domain classifier, feature caches, and honest Inception errors."""

import json
from urllib.error import URLError

import numpy as np
import pytest
import scipy.linalg
import torch

from dcgan.evaluation.evaluate import classifier_space, evaluate_checkpoint, real_features, real_vs_real
from dcgan.evaluation.features import InceptionUnavailable, load_inception, train_classifier
from dcgan.evaluation.metrics import class_stats, fid, kid, precision_recall
from dcgan.settings.config import DataConfig
from dcgan.training.loop import train

from conftest import tiny_config


def numpy_fid(a, b):
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_fid_known_values():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(2000, 8, generator=g, dtype=torch.float64)
    b = torch.randn(2000, 8, generator=g, dtype=torch.float64) * 1.5 + 0.5
    assert fid(a, a) == pytest.approx(0.0, abs=1e-6)
    assert fid(a, b) == pytest.approx(numpy_fid(a.numpy(), b.numpy()), abs=1e-3)
    c = torch.randn(2000, 8, generator=g, dtype=torch.float64)
    assert fid(a, c) < 0.1 < fid(a, b)


def test_kid_and_precision_recall():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(600, 16, generator=g), torch.randn(600, 16, generator=g)
    mean, std = kid(a, b, subsets=20, subset_size=300)
    assert abs(mean) < 3 * std + 1e-3
    shifted_mean, _ = kid(a, b + 2, subsets=20, subset_size=300)
    assert shifted_mean > 10 * max(std, 1e-3)
    assert precision_recall(a, a) == (1.0, 1.0)
    p, r = precision_recall(a, b + 3)
    assert p < 0.2 and r < 0.2


def test_class_stats():
    k = 10
    uniform = torch.eye(k).repeat(50, 1) * 20  # confident, every class equally
    s = class_stats(uniform)
    assert s["class_coverage"] == 1.0 and s["balance"] == pytest.approx(1.0)
    assert s["inception_score"] == pytest.approx(10, rel=1e-3)
    collapsed = class_stats(torch.eye(k)[[3] * 500] * 20)
    assert collapsed["class_coverage"] == pytest.approx(0.1) and collapsed["inception_score"] == pytest.approx(1, rel=1e-3)


@pytest.fixture(scope="module")
def classifier(fmnist_root):
    data = DataConfig(data_root=str(fmnist_root))
    path, acc = train_classifier(data, epochs=3, batch_size=64, progress=False)
    return data, path, acc


def test_classifier_beats_chance(classifier):
    _, path, acc = classifier
    assert acc > 0.6  # 1024 training images, 3 epochs; chance is 0.1
    assert path.name == "fashion-mnist-32px-1ch.pt"


def test_real_features_are_cached(classifier, monkeypatch):
    data, path, _ = classifier
    space = classifier_space(data, 1, path)
    first = real_features(space, data, 500)
    calls = []
    original = space.embed
    space.embed = lambda x: calls.append(1) or original(x)
    second = real_features(space, data, 500)
    assert not calls and torch.equal(first, second)
    floor = real_vs_real(data, space, 256)
    assert 0 < floor < fid(first, torch.randn_like(first) * 5)


def test_metrics_json_names_its_features(classifier, fmnist_root, tmp_path):
    data, path, _ = classifier
    run = tmp_path / "run"
    history = train(tiny_config(fmnist_root, run, max_steps=20, eval_every=10, eval_n=200,
                                classifier=str(path)))
    assert [e["iteration"] for e in history.evals] == [10, 20]
    assert (run / "evals.csv").read_text().startswith("iteration,seconds,fid_fmnist_cnn,class_coverage_fmnist_cnn")
    seconds = [e["seconds"] for e in history.evals]  # training time, evaluations left out
    assert 0 < seconds[0] < seconds[1]
    assert (run / "checkpoints" / "best.pt").is_file()
    result = evaluate_checkpoint(run, n=300, classifier=path)
    saved = json.loads((run / "metrics.json").read_text())
    assert saved == json.loads(json.dumps(result))
    assert "classifier" in saved["features"]
    assert not any(k in ("fid", "kid") for k in saved["metrics"])
    for key in ("fid_fmnist_cnn", "kid_fmnist_cnn", "precision_fmnist_cnn", "recall_fmnist_cnn",
                "class_coverage_fmnist_cnn", "inception_score_fmnist_cnn"):
        assert key in saved["metrics"]


def test_inception_offline_error_names_both_remedies(monkeypatch, tmp_path):
    import torch_fidelity.feature_extractor_inceptionv3 as fx

    def offline(*a, **k):
        raise URLError("Name or service not known")

    monkeypatch.setattr(fx, "load_state_dict_from_url", offline)
    with pytest.raises(InceptionUnavailable) as info:
        load_inception()
    text = str(info.value)
    assert "--inception-weights" in text and "internet" in text
    with pytest.raises(InceptionUnavailable, match="does not exist"):
        load_inception(tmp_path / "missing.pth")


def test_inception_weights_from_a_local_file(monkeypatch, tmp_path):
    """The --inception-weights path loads (here: weights of the right shapes, not the real ones)."""
    import torch_fidelity.feature_extractor_inceptionv3 as fx

    captured = {}
    original = fx.FeatureExtractorInceptionV3.load_state_dict

    def capture(self, state_dict, *a, **k):
        captured.update(self.state_dict())

    monkeypatch.setattr(fx, "load_state_dict_from_url", lambda *a, **k: {})
    monkeypatch.setattr(fx.FeatureExtractorInceptionV3, "load_state_dict", capture)
    load_inception()
    monkeypatch.setattr(fx.FeatureExtractorInceptionV3, "load_state_dict", original)
    torch.save(captured, tmp_path / "inception.pth")
    net = load_inception(tmp_path / "inception.pth")
    out = net(torch.randint(0, 255, (2, 3, 32, 32), dtype=torch.uint8))
    assert out.reshape(2, -1).shape == (2, 2048)

    class Evil:
        def __reduce__(self):
            return (print, ("code",))

    torch.save({"x": Evil()}, tmp_path / "evil.pth")
    with pytest.raises(InceptionUnavailable, match="not a plain state dict"):
        load_inception(tmp_path / "evil.pth")


def test_evaluate_trains_the_missing_classifier(fmnist_root, tmp_path, capsys):
    """No classifier yet: `dcgan evaluate` trains one (saying where it goes) instead of stopping."""
    import shutil

    from dcgan.cli import main

    root = tmp_path / "data"
    shutil.copytree(fmnist_root / "fashion-mnist", root / "fashion-mnist")  # no classifiers/ here
    run = tmp_path / "run"
    train(tiny_config(root, run, max_steps=2))
    assert main(["evaluate", str(run), "--n", "200", "--data-root", str(root)]) == 0
    err = capsys.readouterr().err
    assert "training one for the scores" in err and "classifier saved to" in err
    assert (root / "classifiers" / "fashion-mnist-32px-1ch.pt").is_file()
    assert json.loads((run / "metrics.json").read_text())["metrics"]["fid_fmnist_cnn"] > 0


def test_scores_past_the_size_limit_are_one_message_and_keep_the_earlier_ones(classifier, fmnist_root, tmp_path):
    """`dcgan evaluate` whose metrics.json cannot be written (a file-size limit, as a full disk): exit code 3,
    one message naming the file, and the metrics.json written before is still whole."""
    import os
    import subprocess
    import sys

    from conftest import REPO, file_size_limit

    _, path, _ = classifier
    run = tmp_path / "run"
    train(tiny_config(fmnist_root, run, max_steps=4, checkpoint_every=4))
    args = [sys.executable, "-m", "dcgan", "evaluate", str(run), "--n", "200", "--classifier", str(path),
            "--data-root", str(fmnist_root)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    assert subprocess.run(args, env=env, capture_output=True, timeout=240).returncode == 0  # features now cached
    before = (run / "metrics.json").read_text()

    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=240,
                       preexec_fn=file_size_limit(len(before) // 2))
    assert r.returncode == 3, r.stderr[-2000:]
    assert "Traceback" not in r.stderr and r.stderr.count("error:") == 1
    assert f"could not write the scores {run / 'metrics.json'}: the file-size limit" in r.stderr
    assert (run / "metrics.json").read_text() == before and not list(run.glob(".metrics.json.tmp*"))


def test_training_the_classifier_leaves_the_run_noise_alone(fmnist_root, tmp_path):
    """--eval-every on a data root with no classifier yet trains one inside the run (reseeding as it
    likes): the run's history is the same as one that found the classifier already made."""
    import shutil

    root = tmp_path / "data"
    shutil.copytree(fmnist_root / "fashion-mnist", root / "fashion-mnist")
    settings = dict(max_steps=10, eval_every=5, eval_n=100, deterministic=True)
    first = train(tiny_config(root, tmp_path / "first", **settings))  # trains the classifier
    assert (root / "classifiers" / "fashion-mnist-32px-1ch.pt").is_file()
    again = train(tiny_config(root, tmp_path / "again", **settings))  # finds it
    assert first == again
    real, fake = torch.randn(60, 4), torch.randn(60, 4)
    cpu = torch.get_rng_state()
    kid(real, fake, subsets=3, subset_size=20)  # draws its subsets after seeding the global RNG
    assert torch.equal(cpu, torch.get_rng_state())
