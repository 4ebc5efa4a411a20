"""Conditional generation: classes and attribute tags, the matching-aware D, sampling and scoring."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dcgan.checkpoint import load_checkpoint
from dcgan.cli import main
from dcgan.data.conditions import (ConditionError, attrs_vector, class_index, mismatched, parse_attr_csv,
                                   parse_celeba_attrs)
from dcgan.data.sources import read_idx
from dcgan.models import build_models
from dcgan.settings.config import Config, ConfigError
from dcgan.training.loop import train
from dcgan.training.losses import OBJECTIVES, matching_aware_d_loss

from conftest import tiny_config


@pytest.mark.parametrize("d_condition", ["projection", "concat"])
@pytest.mark.parametrize("size,nc,k", [(32, 1, 10), (64, 3, 5)])
def test_shapes(d_condition, size, nc, k):
    G, D = build_models(nz=16, ngf=8, ndf=8, nc=nc, image_size=size, n_cond=k, d_condition=d_condition)
    cond = (torch.rand(6, k) > 0.5).float()
    x = G(torch.randn(6, 16, 1, 1), cond)
    assert x.shape == (6, nc, size, size) and x.abs().max() <= 1
    logits, h = D(x, cond, with_features=True)
    assert logits.shape == (6,) and h.shape[0] == 6
    # the condition matters: other conditions, other outputs (once the zero-initialised maps move)
    for m in G.modules():
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.normal_(m.weight, 0, 0.5)
    assert not torch.allclose(G(torch.zeros(2, 16), torch.eye(k)[:2])[0], G(torch.zeros(2, 16), torch.eye(k)[:2])[1])
    with pytest.raises(ValueError, match="conditional"):
        G(torch.randn(2, 16))


def test_unconditional_weights_unchanged():
    """Same seed, same weights as before conditioning existed (sums recorded from that version)."""
    torch.manual_seed(0)
    G, D = build_models(nz=16, ngf=8, ndf=8, nc=1, image_size=32)
    assert sum(p.double().sum().item() for p in G.parameters()) == pytest.approx(56.762687210415436, abs=1e-9)
    assert sum(p.double().sum().item() for p in D.parameters()) == pytest.approx(49.33689462693917, abs=1e-9)


def test_matching_aware_loss_by_hand():
    real, fake, wrong = torch.tensor([2.0, 1.0]), torch.tensor([-1.0, 0.5]), torch.tensor([0.3, -2.0])
    bce = OBJECTIVES["bce"]
    expected = (F.softplus(-real).mean()        # real with its own condition: target 1
                + F.softplus(fake).mean()       # fake: target 0
                + 0.5 * F.softplus(wrong).mean())  # real with a wrong condition: target 0
    assert torch.allclose(matching_aware_d_loss(bce, real, fake, wrong, 0.5), expected)
    hinge = OBJECTIVES["hinge"]
    expected = F.relu(1 - real).mean() + F.relu(1 + fake).mean() + 2.0 * F.relu(1 + wrong).mean()
    assert torch.allclose(matching_aware_d_loss(hinge, real, fake, wrong, 2.0), expected)
    # a D that scores mismatched pairs low has a lower loss than one fooled by them
    assert matching_aware_d_loss(bce, real, fake, torch.full((2,), -5.0), 1.0) < \
        matching_aware_d_loss(bce, real, fake, torch.full((2,), 5.0), 1.0)


def test_mismatches_differ():
    torch.manual_seed(0)
    labels = torch.randint(0, 10, (500,))
    cond = torch.eye(10)[labels]
    wrong = mismatched(cond, "class")
    assert (wrong.argmax(1) != labels).all() and torch.allclose(wrong.sum(1), torch.ones(500))
    tags = (torch.rand(500, 4) > 0.5).float()
    tags[:100] = torch.tensor([1.0, 0, 1, 0])  # many identical rows: shuffling alone would repeat them
    wrong = mismatched(tags, "attrs")
    assert (wrong != tags).any(1).all()
    assert set(wrong.unique().tolist()) <= {0.0, 1.0}
    same = torch.ones(8, 3)  # every row the same
    assert (mismatched(same, "attrs") != same).any(1).all()


def test_attribute_files(tmp_path):
    celeba = tmp_path / "list_attr_celeba.txt"
    celeba.write_text("2\nSmiling Eyeglasses Blond_Hair\n000001.jpg  1 -1 -1\n000002.jpg -1  1  1\n")
    names, table = parse_celeba_attrs(celeba)
    assert names == ["Smiling", "Eyeglasses", "Blond_Hair"]
    assert table == {"000001.jpg": [1, 0, 0], "000002.jpg": [0, 1, 1]}
    celeba.write_text("2\nSmiling Eyeglasses\n000001.jpg 1 -1\n000002.jpg 1\n")
    with pytest.raises(ConditionError, match=r"list_attr_celeba.txt, line 4: expected a file name and 2 values"):
        parse_celeba_attrs(celeba)
    celeba.write_text("1\nSmiling\n000001.jpg 0\n")
    with pytest.raises(ConditionError, match=r"line 3: values must be -1 or 1"):
        parse_celeba_attrs(celeba)

    tags = tmp_path / "tags.csv"
    tags.write_text("filename,dark,footwear\na.png,1,0\nb.png,0,1\n")
    assert parse_attr_csv(tags) == (["dark", "footwear"], {"a.png": [1, 0], "b.png": [0, 1]})
    tags.write_text("filename,dark,footwear\na.png,1,0\nb.png,yes,1\n")
    with pytest.raises(ConditionError, match=r"tags.csv, line 3: tag values must be 0 or 1, got 'yes'"):
        parse_attr_csv(tags)
    tags.write_text("filename,dark\na.png,1,0\n")
    with pytest.raises(ConditionError, match=r"line 2: expected 2 fields, found 3"):
        parse_attr_csv(tags)
    with pytest.raises(ConditionError, match=r"unknown attribute\(s\) \['Hat'\]; valid ones are dark, footwear"):
        attrs_vector("dark,Hat", ["dark", "footwear"])
    assert attrs_vector("footwear", ["dark", "footwear"]).tolist() == [0.0, 1.0]
    assert class_index("Trouser", ["T-shirt", "Trouser"]) == 1 and class_index("0", ["a", "b"]) == 0
    with pytest.raises(ConditionError, match="out of range"):
        class_index(5, ["a", "b"])


def test_config_checks():
    with pytest.raises(ConfigError, match="--mismatch-weight needs a conditional model"):
        Config.from_flat(mismatch_weight=1.0)
    with pytest.raises(ConfigError, match="--condition attrs needs tags"):
        Config.from_flat(condition="attrs")
    with pytest.raises(ConfigError, match="choose one of none, class, attrs"):
        Config.from_flat(condition="text")


@pytest.fixture(scope="module")
def tagged_folder(fmnist_root, tmp_path_factory):
    """A folder of 96 real Fashion-MNIST PNGs and a CSV of tags derived from labels and pixels."""
    from PIL import Image

    root = tmp_path_factory.mktemp("tagged")
    images = read_idx(fmnist_root / "fashion-mnist" / "train-images-idx3-ubyte.gz")[:96]
    labels = read_idx(fmnist_root / "fashion-mnist" / "train-labels-idx1-ubyte.gz")[:96]
    rows = ["filename,upper_body,footwear,bright"]
    for i, (img, y) in enumerate(zip(images, labels)):
        Image.fromarray(img).save(root / f"img_{i:03d}.png")
        rows.append(f"img_{i:03d}.png,{int(y in (0, 2, 3, 4, 6))},{int(y in (5, 7, 9))},{int(img.mean() > 80)}")
    (root / "tags.csv").write_text("\n".join(rows) + "\n")
    return root


MODES = {
    "class-projection": dict(condition="class", mismatch_weight=0.5),
    "class-concat-wgan-gp-ema": dict(condition="class", d_condition="concat", loss="wgan-gp", d_steps=2,
                                     ema_decay=0.99, mismatch_weight=1.0),
    "attrs-hinge": dict(condition="attrs", loss="hinge", mismatch_weight=0.5),
    "class-mode-seeking": dict(condition="class", mode_seeking=1.0),
}


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_trains_checkpoints_and_resumes(mode, fmnist_root, tagged_folder, tmp_path):
    settings = dict(MODES[mode], deterministic=True, snapshot_every=3, checkpoint_every=3)
    if settings["condition"] == "attrs":
        settings.update(dataset="folder", folder=str(tagged_folder), attrs_file=str(tagged_folder / "tags.csv"),
                        channels=1, data_root=str(tmp_path / "data"))
    root = settings.pop("data_root", fmnist_root)
    straight = train(tiny_config(root, tmp_path / "a", max_steps=6, **settings))
    assert all(math.isfinite(v) for v in straight["loss_d"] + straight["loss_g"])
    train(tiny_config(root, tmp_path / "b", max_steps=3, **settings))
    resumed = train(tiny_config(root, tmp_path / "b", max_steps=6, **settings), resume=tmp_path / "b")
    assert resumed == straight
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    for part in ("G", "D"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    assert a["fixed_cond"].shape[0] == 64 and len(a["cond_names"]) == a["fixed_cond"].shape[1]
    if settings["condition"] == "attrs":
        assert a["cond_names"] == ["upper_body", "footwear", "bright"]


def test_sample_cli_and_evaluate(fmnist_root, tagged_folder, tmp_path):
    from PIL import Image

    from dcgan.evaluation.evaluate import evaluate_checkpoint
    from dcgan.evaluation.features import train_classifier
    from dcgan.settings.config import DataConfig

    run = tmp_path / "cls"
    train(tiny_config(fmnist_root, run, max_steps=4, condition="class"))
    assert main(["sample", str(run), "--class", "Trouser", "--n", "16", "--out", str(tmp_path / "t.png"),
                 "--device", "cpu"]) == 0
    assert main(["sample", str(run), "--per-class", "3", "--out", str(tmp_path / "grid.png"),
                 "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "grid.png").size[1] > Image.open(tmp_path / "t.png").size[1] / 2
    assert main(["sample", str(run), "--attrs", "dark", "--out", str(tmp_path / "x.png")]) == 2
    assert main(["sample", str(run), "--class", "Hat", "--out", str(tmp_path / "x.png")]) == 2

    data = DataConfig(dataset="fashion-mnist", data_root=str(fmnist_root), download=False)
    classifier, _ = train_classifier(data, epochs=1, out=tmp_path / "c.pt", progress=False)
    result = evaluate_checkpoint(run, n=200, classifier=classifier, device="cpu")
    m = result["metrics"]
    assert 0 <= m["class_accuracy_fmnist_cnn"] <= 1 and "fid_class_Trouser_fmnist_cnn" in m
    assert np.isfinite(m["fid_per_class_mean_fmnist_cnn"])

    tags = tmp_path / "tags"
    train(tiny_config(tmp_path / "data", tags, max_steps=3, condition="attrs", dataset="folder",
                      folder=str(tagged_folder), attrs_file=str(tagged_folder / "tags.csv"), channels=1))
    assert main(["sample", str(tags), "--attrs", "footwear,bright", "--n", "8", "--out",
                 str(tmp_path / "f.png")]) == 0
    assert main(["sample", str(tags), "--attrs", "Smiling", "--out", str(tmp_path / "x.png")]) == 2
    # without --attrs, a tag-conditional run samples with the real tag sets of its snapshot grids
    from dcgan.sample import default_conditions, describe_conditions, load_generator

    G = load_generator(tags)
    assert describe_conditions(G).startswith("tag-conditional generator")
    assert torch.equal(default_conditions(G, 3), G.example_conds[:3].float())
    assert main(["sample", str(tags), "--n", "4", "--out", str(tmp_path / "t.png")]) == 0


def test_a_class_conditional_g_is_scored_with_the_real_images_class_mix():
    """On unbalanced classes the fakes are asked for each class as often as the real images scored
    have it, so FID compares like with like; without labels, every class equally often."""
    from dcgan.evaluation.evaluate import conditions_for_eval

    G = build_models(nz=8, ngf=8, ndf=8, nc=1, image_size=32, n_cond=3)[0]
    G.condition = "class"  # as load_generator sets it from the run's config
    labels = torch.tensor([0] * 6 + [1] * 3 + [2])  # 60%, 30%, 10%
    cond, intended = conditions_for_eval(G, Config(), 20, labels)
    assert cond.shape == (20, 3) and torch.equal(cond.argmax(1), intended)
    assert torch.bincount(intended, minlength=3).tolist() == [12, 6, 2]
    cond, intended = conditions_for_eval(G, Config(), 9, None)
    assert torch.bincount(intended, minlength=3).tolist() == [3, 3, 3]
    plain = build_models(nz=8, ngf=8, ndf=8, nc=1, image_size=32)[0]
    plain.condition = "none"
    assert conditions_for_eval(plain, Config(), 5, labels) == (None, None)
