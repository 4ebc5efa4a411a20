"""Objectives, penalties and stabilisers: hand-computed values, signs, and short real runs."""

import math
import os
import signal

import pytest
import torch
from torch import nn

from dcgan.checkpoint import load_checkpoint
from dcgan.cli import build_parser
from dcgan.models import Discriminator
from dcgan.settings.config import LOSSES, Config, ConfigError
from dcgan.training import stabilisers
from dcgan.training.loop import train
from dcgan.training.losses import OBJECTIVES, bce_g_loss, gradient_penalty, minimax_g_loss, r1_penalty
from dcgan.training.stabilisers import EMA, d_targets, diff_augment

from conftest import tiny_config


class LinearCritic(nn.Module):
    """D(x) = w . x + b: its input gradient is w everywhere, so the penalties are known exactly."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x):
        return (x.flatten(1) * self.w).sum(1) + 0.3


def test_gradient_penalty_by_hand():
    torch.manual_seed(0)
    w = torch.randn(1 * 4 * 4) * 0.5
    D = LinearCritic(w)
    real, fake = torch.randn(6, 1, 4, 4), torch.randn(6, 1, 4, 4)
    expected = 10 * (w.norm() - 1) ** 2  # the same at every interpolate
    assert torch.allclose(gradient_penalty(D, real, fake, 10.0), expected, rtol=1e-5)
    assert torch.allclose(r1_penalty(D, real, fake, 4.0), 4.0 / 2 * w.norm() ** 2, rtol=1e-5)
    # the penalty is differentiable in D's weights: d/dw 10 (|w| - 1)^2 = 20 (|w| - 1) w / |w|
    gradient_penalty(D, real, fake, 10.0).backward()
    assert torch.allclose(D.w.grad, 20 * (w.norm() - 1) * w / w.norm(), rtol=1e-4)


@pytest.mark.parametrize("loss", LOSSES)
def test_objective_signs(loss):
    obj = OBJECTIVES[loss]
    # LSGAN regresses to the targets 1 and 0 themselves; the others score on an open scale
    h, l, m = (1.0, 0.0, 0.5) if loss == "lsgan" else (3.0, -3.0, 0.0)
    high, low, zero = torch.full((8,), h), torch.full((8,), l), torch.full((8,), m)
    # D's loss is lower when it scores real high and fake low than when it cannot tell them apart,
    # and lower still than when it has them the wrong way round
    separated, confused, wrong = obj.d_loss(high, low), obj.d_loss(zero, zero), obj.d_loss(low, high)
    assert separated < confused < wrong
    # G's loss is lower when D is fooled (scores fakes high); a relativistic G loss also reads D's
    # scores of a real batch, held at the undecided value here
    g_loss = (lambda fake: obj.g_loss(fake, zero)) if obj.relativistic else obj.g_loss
    assert g_loss(high) < g_loss(zero) < g_loss(low)
    # and descending G's loss raises D's score of the fakes
    logits = zero.clone().requires_grad_(True)
    g_loss(logits).backward()
    assert (logits.grad < 0).all()


def test_relativistic_average_by_hand():
    """RaSGAN: D's loss is BCE on real - mean(fake) (target 1) and fake - mean(real) (target 0); G's
    swaps the targets, and its gradient reaches the fakes through both halves."""
    ragan = OBJECTIVES["ragan"]
    real, fake = torch.tensor([2.0, 0.0]), torch.tensor([-1.0, 1.0])  # means 1.0 and 0.0
    softplus = torch.nn.functional.softplus
    # real - mean(fake) = [2, 0]; fake - mean(real) = [-2, 0]
    d = softplus(-torch.tensor([2.0, 0.0])).mean() + softplus(torch.tensor([-2.0, 0.0])).mean()
    assert torch.allclose(ragan.d_loss(real, fake), d)
    fake = fake.requires_grad_(True)
    g = softplus(-torch.tensor([-2.0, 0.0])).mean() + softplus(torch.tensor([2.0, 0.0])).mean()
    loss = ragan.g_loss(fake, real)
    assert torch.allclose(loss, g)
    loss.backward()
    # d/df_i: -sigmoid(-(f_i - 1)) / 2 from the first half, -mean_j sigmoid(r_j - 0) / 2 from the second
    first = -torch.sigmoid(-(fake.detach() - 1)) / 2
    second = -torch.sigmoid(real).mean() / 2
    assert torch.allclose(fake.grad, first + second)


def test_minimax_gradient_vanishes_where_d_rejects_fakes():
    rejected = torch.full((8,), -6.0, requires_grad=True)
    minimax_g_loss(rejected).backward()
    saturating = rejected.grad.abs().mean()
    rejected.grad = None
    bce_g_loss(rejected).backward()
    non_saturating = rejected.grad.abs().mean()
    assert saturating < 0.01 * non_saturating


def test_label_targets():
    assert d_targets(4, smoothing=0.1, flip=0.0, device="cpu") == (0.9, 0.0)
    torch.manual_seed(0)
    real_t, fake_t = d_targets(20000, smoothing=0.0, flip=0.1, device="cpu")
    assert set(real_t.unique().tolist()) == {0.0, 1.0} and set(fake_t.unique().tolist()) == {0.0, 1.0}
    assert abs((real_t == 0).float().mean().item() - 0.1) < 0.01
    assert abs((fake_t == 1).float().mean().item() - 0.1) < 0.01


def test_ema_arithmetic():
    g = nn.Linear(3, 2)
    ema = EMA(g, decay=0.9)
    before = ema.shadow.weight.detach().clone()
    with torch.no_grad():
        g.weight.add_(1.0)
    ema.update(g, step=1000)  # past the warm-up: d = 0.9
    assert torch.allclose(ema.shadow.weight, 0.9 * before + 0.1 * g.weight)
    ema.update(g, step=0)  # warm-up: d = min(0.9, 1/10) = 0.1
    expected = 0.1 * (0.9 * before + 0.1 * g.weight) + 0.9 * g.weight
    assert torch.allclose(ema.shadow.weight, expected)
    assert not any(p.requires_grad for p in ema.shadow.parameters())


def test_ema_rampup_sets_the_span_of_the_average():
    """--ema-rampup r: d_t = min(decay, h / (1 + h)), h = r (t + 1); 1/9 is the old (1 + t) / (10 + t)."""
    def decay_after_one_update(rampup, step, decay=0.999):
        g = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            g.weight.fill_(0.0)
        ema = EMA(g, decay=decay, rampup=rampup)
        with torch.no_grad():
            g.weight.fill_(1.0)
        ema.update(g, step=step)
        return 1 - ema.shadow.weight.item()  # the shadow moved 1 - d of the way to 1

    for t in (0, 10, 1403):
        assert abs(decay_after_one_update(1 / 9, t) - (1 + t) / (10 + t)) < 1e-6
    assert abs(decay_after_one_update(0.25, 1403) - 351 / 352) < 1e-6  # h = 351: the last quarter of 1404 steps
    assert abs(decay_after_one_update(0.25, 10 ** 6) - 0.999) < 1e-6  # capped by --ema-decay
    assert abs(decay_after_one_update(0.0, 0) - 0.999) < 1e-6  # no warm-up
    with pytest.raises(ValueError, match="--ema-rampup"):
        Config.from_flat(ema_rampup=2.0)


def test_spectral_norm_keeps_top_singular_value_near_one():
    torch.manual_seed(0)
    D = Discriminator(ndf=8, nc=1, image_size=32, spectral_norm=True)
    for m in D.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.parametrizations.weight.original, 0, 1.0)  # far from norm 1 to start
    x = torch.randn(4, 1, 32, 32)
    for _ in range(30):  # power iteration advances one step per training-mode forward
        D(x)
    D.eval()
    for m in D.modules():
        if isinstance(m, nn.Conv2d):
            sigma = torch.linalg.matrix_norm(m.weight.flatten(1), ord=2)
            assert abs(sigma.item() - 1) < 0.05


def test_diffaugment_shapes_and_ranges():
    torch.manual_seed(0)
    x = torch.rand(16, 3, 32, 32) * 2 - 1
    for policy in (["translation"], ["cutout"], ["translation", "cutout"]):
        y = diff_augment(x, policy)
        assert y.shape == x.shape
        # moving and masking pixels only ever produce pixels of x or zeros (mid-grey)
        assert y.min() >= x.min() and y.max() <= x.max()
        assert not torch.equal(y, x)
    cut = diff_augment(x, ["cutout"])
    # a half-side square is a quarter of the image, less where it hangs off the edge
    assert 0.15 < (cut == 0).float().mean() <= 0.25
    y = diff_augment(x, ["color"])
    assert y.shape == x.shape and y.abs().max() < 5
    assert diff_augment(x, []) is x
    # differentiable: G gets gradients through the augmentation
    z = x.clone().requires_grad_(True)
    diff_augment(z, ["color", "translation", "cutout"]).sum().backward()
    assert z.grad is not None and z.grad.abs().sum() > 0


def test_diffaugment_applies_to_real_and_fake(fmnist_root, tmp_path, monkeypatch):
    seen = []

    def spy(name, fn):
        def wrapped(x):
            seen.append((name, x.requires_grad))
            return fn(x)
        return wrapped

    for name, fn in list(stabilisers.AUGMENT_FUNCTIONS.items()):
        monkeypatch.setitem(stabilisers.AUGMENT_FUNCTIONS, name, spy(name, fn))
    train(tiny_config(fmnist_root, tmp_path / "r", max_steps=2, diffaug="translation,cutout", precision="fp32"))
    # each iteration: real and detached fake for D, then the fake (with G's graph) for G
    assert [n for n, _ in seen] == ["translation", "cutout"] * 6
    assert [g for n, g in seen if n == "translation"] == [False, False, True] * 2


def test_wgan_clipping_bounds_weights(fmnist_root, tmp_path):
    train(tiny_config(fmnist_root, tmp_path / "w", max_steps=3, loss="wgan"))
    state = load_checkpoint(tmp_path / "w")
    assert max(v.abs().max().item() for k, v in state["D"].items() if v.is_floating_point()
               and "running" not in k) <= 0.01 + 1e-7


VARIANTS = {
    **{loss: {"loss": loss} for loss in LOSSES},
    "spectral-norm": {"spectral_norm": True},
    "label-smoothing": {"label_smoothing": 0.1},
    "label-flip": {"label_flip": 0.05},
    "instance-noise": {"instance_noise": 0.1},
    "ema": {"ema_decay": 0.99},
    "diffaug": {"diffaug": "color,translation,cutout"},
    "ttur": {"lr_d": 4e-4, "lr_g": 1e-4},
    "r1": {"r1_weight": 1.0},
    "minibatch-std": {"minibatch_std": True},
    "feature-matching": {"feature_matching": True},
    "grad-clip": {"grad_clip": 1.0},
    "d-steps": {"d_steps": 2},
    "instance-norm-critic": {"loss": "wgan-gp", "d_norm": "instance"},
    "hinge-sn-r1": {"loss": "hinge", "spectral_norm": True, "d_norm": "none", "r1_weight": 0.5},
    "ragan-smooth": {"loss": "ragan", "label_smoothing": 0.1},
}


@pytest.mark.parametrize("name", VARIANTS)
def test_every_setting_trains_checkpoints_and_resumes_exactly(name, fmnist_root, tmp_path):
    settings = dict(VARIANTS[name], deterministic=True, snapshot_every=4, checkpoint_every=4)
    straight = train(tiny_config(fmnist_root, tmp_path / "a", max_steps=7, **settings))
    for key in ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g", "w_estimate", "penalty"):
        assert all(math.isfinite(v) for v in straight[key]), key
    # interrupted by a real SIGINT at iteration 4 (annealed settings depend on the planned length)
    def interrupt(step, path, history):
        if step == 4:
            os.kill(os.getpid(), signal.SIGINT)

    stopped = train(tiny_config(fmnist_root, tmp_path / "b", max_steps=7, **settings), on_snapshot=interrupt)
    assert stopped["iteration"][-1] == 4 and load_checkpoint(tmp_path / "b")["iteration"] == 4
    resumed = train(tiny_config(fmnist_root, tmp_path / "b", max_steps=7, **settings), resume=tmp_path / "b")
    assert resumed == straight
    a, b = load_checkpoint(tmp_path / "a"), load_checkpoint(tmp_path / "b")
    for part in ("G", "D") + (("G_ema",) if "ema_decay" in settings else ()):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), (part, k)
    # the checkpoint remembers the choice
    cfg = Config.from_dict(a["config"])
    for key, value in VARIANTS[name].items():
        section = next(s for s in ("model", "objective", "train") if hasattr(getattr(cfg, s), key))
        assert getattr(getattr(cfg, section), key) == value


def test_presets_and_validation():
    gp = Config.from_flat(loss="wgan-gp")
    assert (gp.objective.d_steps, gp.train.beta1, gp.train.beta2, gp.d_norm) == (5, 0.5, 0.9, "layer")
    assert Config.from_flat(loss="wgan-gp", d_steps=3).objective.d_steps == 3  # explicit wins
    w = Config.from_flat(loss="wgan")
    assert (w.train.optimizer, w.train.lr, w.objective.d_steps) == ("rmsprop", 5e-5, 5)
    classic = Config.from_flat(recipe="classic")
    assert classic.objective.grad_clip == 0.0 and classic.train.lr == 2e-4
    with pytest.raises(ConfigError, match="BatchNorm"):
        Config.from_flat(loss="wgan-gp", d_norm="batch")
    with pytest.raises(ConfigError, match="choose one of bce, minimax, wgan, wgan-gp, hinge, lsgan"):
        Config.from_flat(loss="wasserstein")
    with pytest.raises(ConfigError, match="only bce, minimax, lsgan"):
        Config.from_flat(loss="hinge", label_smoothing=0.1)
    with pytest.raises(ConfigError, match="--mismatch-weight scores real images"):
        Config.from_flat(loss="ragan", condition="class", mismatch_weight=1.0)
    with pytest.raises(ConfigError, match="unknown \\['blur'\\]"):
        Config.from_flat(diffaug="color,blur")
    with pytest.raises(ConfigError, match="--recipe 'fancy' is not known"):
        Config.from_flat(recipe="fancy")


def test_the_default_recipe_is_r1_ema_b32_and_classic_is_one_flag_away(capsys, cpu_box):
    from dcgan.settings.config import flat_defaults
    from dcgan.settings.recipes import DEFAULT_RECIPE, RECIPES

    default = Config.from_flat()
    # the default recipe is the settings' own defaults; every other recipe lists only what it changes
    assert RECIPES[DEFAULT_RECIPE].changes == {} and Config.from_flat() == Config()
    defaults = flat_defaults()
    for name, recipe in RECIPES.items():
        assert all(defaults[k] != v for k, v in recipe.changes.items()), name
    assert default.objective.grad_clip == 10.0  # what the benchmark measured as clearly better
    assert default.train.lr == 4e-4  # the fast recipe: the short budget is limited by its step size
    assert default.train.lr_g == 1.2e-3 and default.train.lr_d == 0.0  # G at 3x D's rate
    assert default.objective.ema_decay == 0.999 and default.objective.label_smoothing == 0.1
    assert (default.objective.r1_weight, default.objective.r1_every) == (0.1, 16)  # lazy R1
    assert DEFAULT_RECIPE == "r1-ema-b32" and default.train.batch_size == 32
    # r1-ema at batch 32, the rates' tail over the last quarter, a shorter EMA warm-up
    assert (default.train.lr_decay, default.objective.ema_rampup) == (0.25, 0.05)
    r1_ema = Config.from_flat(recipe="r1-ema")
    assert (r1_ema.train.batch_size, r1_ema.train.lr_decay, r1_ema.objective.ema_rampup) == (64, 0.0, 1 / 9)
    assert Config.from_flat(recipe="classic").train.lr_decay == 0.0
    assert Config.from_flat(recipe="fast-g-ema-r1").train.batch_size == 128  # an old name, still trained
    # conditional runs add the matching-aware D and the mode-seeking term; unconditional ones cannot have them
    assert (default.objective.mismatch_weight, default.objective.mode_seeking) == (0.0, 0.0)
    conditional = Config.from_flat(condition="class").objective
    # the mode-seeking term at half r1-ema's weight: at batch 32, 1 blurred the classes
    assert (conditional.mismatch_weight, conditional.mode_seeking, conditional.ema_rampup) == (0.5, 0.5, 0.05)
    r1_ema_conditional = Config.from_flat(recipe="r1-ema", condition="class").objective
    assert (r1_ema_conditional.mode_seeking, r1_ema_conditional.ema_rampup) == (1.0, 1 / 9)
    assert Config.from_flat(condition="class", mode_seeking=0.0).objective.mode_seeking == 0.0  # explicit wins
    assert Config.from_flat(condition="class", loss="ragan").objective.mismatch_weight == 0.0  # ragan cannot
    assert Config.from_flat(condition="class", recipe="fast-g-ema-r1").objective.mode_seeking == 0.0
    # R1's gradient: clipped on its own in unconditional runs (the long-run fix), with the loss's in
    # conditional ones (measured better at 3 epochs); the old fast-g-ema-r1 keeps the joint clip it was measured with
    assert (default.objective.penalty_clip, conditional.penalty_clip) == ("own", "joint")
    assert Config.from_flat(condition="class", penalty_clip="own").objective.penalty_clip == "own"
    assert Config.from_flat(recipe="fast-g-ema-r1", condition="class").objective.penalty_clip == "joint"
    classic = Config.from_flat(recipe="classic")
    assert (classic.objective.ema_decay, classic.objective.label_smoothing, classic.train.lr_g,
            classic.objective.r1_weight) == (0.0, 0.0, 0.0, 0.0)
    # a conditional run of a recipe without conditional additions keeps the defaults' (off)
    assert (Config.from_flat(recipe="classic", condition="class").objective.mismatch_weight,
            Config.from_flat(recipe="sngan", condition="class").objective.penalty_clip) == (0.0, "own")
    assert Config.from_flat() == Config()  # the dataclass defaults are the default recipe's
    assert Config.from_flat(grad_clip=0.0).objective.grad_clip == 0.0  # explicit wins over the recipe
    # the papers' WGAN settings win over the recipe's clipping
    assert Config.from_flat(loss="wgan-gp").objective.grad_clip == 0.0
    assert Config.from_flat(loss="wgan").objective.grad_clip == 0.0
    assert Config.from_flat(loss="wgan-gp").train.lr == 2e-4  # the recipe's lr was measured for bce only
    assert Config.from_flat(loss="wgan-gp").train.lr_g == 0.0 and Config.from_flat(loss="wgan").train.lr_g == 0.0
    assert Config.from_flat(recipe="classic").train.lr_g == 0.0
    # a given --lr moves G's rate with D's, keeping the recipe's ratio; an explicit --lr-g wins
    assert Config.from_flat(lr=1e-4).train.lr == 1e-4 and Config.from_flat(lr=1e-4).train.lr_g == pytest.approx(3e-4)
    assert Config.from_flat(lr=1e-4, lr_g=5e-4).train.lr_g == 5e-4
    # the losses without targets turn the recipe's smoothing off; asked for explicitly, it is an error
    for loss in ("hinge", "wgan", "wgan-gp"):
        assert Config.from_flat(loss=loss).objective.label_smoothing == 0.0
    for loss in ("wgan", "wgan-gp"):  # their own Lipschitz constraint instead of the recipe's R1
        assert Config.from_flat(loss=loss).objective.r1_weight == 0.0


def test_recipe_list_names_every_recipe_and_its_sources(capsys):
    from dcgan.cli import main
    from dcgan.settings.recipes import DEFAULT_RECIPE, RECIPES

    assert main(["train", "--recipe", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name, settings in RECIPES.items():
        line = next(l for l in lines if l.startswith(f"{name}:") or l.startswith(f"{name} (the default):"))
        assert len(line.split(": ", 1)[1]) > 20  # its source, not an empty note
    # the default's settings, as the flags that set them, and what conditional runs add
    flags = lines[lines.index(next(l for l in lines if l.startswith(DEFAULT_RECIPE))) + 1]
    for text in ("--lr-g 0.0012", "--ema-decay 0.999", "--r1-every 16", "--batch-size 32", "--grad-clip 10",
                 "--lr-decay 0.25", "--ema-rampup 0.05"):
        assert text in flags
    assert any("--mismatch-weight 0.5 --mode-seeking 0.5" in l for l in lines)  # the default's
    assert any("--mismatch-weight 0.5 --mode-seeking 1" in l for l in lines)  # r1-ema's
    assert any(l.startswith("sngan:") for l in lines) and any("--spectral-norm --d-norm none" in l for l in lines)


def test_cli_flags_round_trip(fmnist_root, tmp_path):
    from dcgan.cli import main

    out = tmp_path / "cli"
    args = ["train", "--dataset", "fashion-mnist", "--data-root", str(fmnist_root), "--nz", "16",
            "--ngf", "8", "--ndf", "8", "--batch-size", "32", "--max-steps", "3", "--out", str(out),
            "--no-progress", "--no-download", "--loss", "hinge", "--n-critic", "2", "--spectral-norm",
            "--minibatch-std", "--ema-decay", "0.99", "--diffaug", "translation", "--lr-d", "0.0004",
            "--r1-weight", "0.5", "--grad-clip", "5", "--instance-noise", "0.05", "--recipe", "classic"]
    assert main(args) == 0
    saved = Config.from_dict(load_checkpoint(out)["config"])
    assert (saved.objective.loss, saved.objective.d_steps, saved.model.spectral_norm,
            saved.model.minibatch_std, saved.objective.ema_decay, saved.objective.diffaug,
            saved.train.lr_d, saved.objective.r1_weight, saved.objective.grad_clip,
            saved.objective.instance_noise) == ("hinge", 2, True, True, 0.99, "translation", 4e-4, 0.5,
                                                5.0, 0.05)
    parsed = build_parser().parse_args(["train", "--n-critic", "5"])
    assert parsed.d_steps == 5
    # resuming keeps the checkpoint's objective without repeating the flags
    assert main(["train", "--resume", str(out), "--max-steps", "4", "--no-progress"]) == 0
    assert Config.from_dict(load_checkpoint(out)["config"]) .objective == saved.objective
    assert (out / "grad_norms.png").is_file()


def test_old_recipe_names_train_as_before_with_a_note(capsys):
    from dcgan.settings.compat import RETIRED_AS
    from dcgan.settings.recipes import STEPS

    renamed = Config.from_flat(recipe="fast-g-ema-r1-b64")
    assert renamed == Config.from_flat(recipe="r1-ema")
    assert "recipe 'fast-g-ema-r1-b64' is now called 'r1-ema'" in capsys.readouterr().err
    fast_g = Config.from_flat(recipe="fast-g")
    note = capsys.readouterr().err
    assert "no longer a preset" in note and "'clip-g8-d4'" in note and note.count("\n") == 1  # one line
    assert (fast_g.train.lr, fast_g.train.lr_g, fast_g.objective.grad_clip, fast_g.objective.ema_decay) == (
        4e-4, 8e-4, 10.0, 0.0)
    for name, step in RETIRED_AS.items():
        settings = STEPS[step]
        cfg = Config.from_flat(recipe=name, condition="class").to_dict()
        flat = {k: v for section in cfg.values() for k, v in section.items()}
        assert all(flat[k] == v for k, v in settings.items()), name
        assert flat["mismatch_weight"] == 0.0 and flat["mode_seeking"] == 0.0


def test_the_published_presets_are_their_papers_settings():
    sn = Config.from_flat(recipe="sngan")
    assert (sn.objective.loss, sn.model.spectral_norm, sn.d_norm, sn.objective.label_smoothing) == (
        "hinge", True, "none", 0.0)
    assert (sn.train.lr, sn.train.batch_size, sn.objective.ema_decay, sn.objective.r1_weight) == (2e-4, 128, 0.0, 0.0)
    gp = Config.from_flat(recipe="wgan-gp")
    assert (gp.objective.loss, gp.objective.d_steps, gp.objective.gp_weight, gp.d_norm) == ("wgan-gp", 5, 10.0, "layer")
    assert (gp.train.beta1, gp.train.beta2, gp.objective.grad_clip) == (0.5, 0.9, 0.0)
    w = Config.from_flat(recipe="wgan")
    assert (w.objective.loss, w.train.optimizer, w.train.lr, w.objective.clip_value) == ("wgan", "rmsprop", 5e-5, 0.01)
    ls = Config.from_flat(recipe="lsgan")
    assert (ls.objective.loss, ls.objective.grad_clip, ls.train.lr) == ("lsgan", 0.0, 2e-4)


def test_recipe_list_fits_on_one_screen():
    from dcgan.settings.config import describe_recipes
    from dcgan.settings.recipes import RECIPES

    text = describe_recipes()
    lines = text.splitlines()
    assert len(lines) <= 24 and max(map(len, lines)) <= 200
    assert all(f"{name}" in text for name in RECIPES) and "r1-ema-b32 (the default)" in text


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_rpgan_with_r1_and_r2_trains_and_resumes(fmnist_root, tmp_path, precision):
    """The relativistic pairing loss with both zero-centred penalties on their lazy steps, in either
    precision (G's fakes are bf16 under autocast; the penalties run in fp32)."""
    from dcgan.checkpoint import load_checkpoint
    from dcgan.training.loop import train

    from conftest import tiny_config

    settings = dict(loss="rpgan", r2_weight=0.1, r1_every=2, precision=precision)
    history = train(tiny_config(fmnist_root, tmp_path / "run", max_steps=6, checkpoint_every=3, **settings))
    assert all(math.isfinite(v) for v in history["loss_d"] + history["penalty"])
    assert sum(p > 0 for p in history["penalty"]) >= 2  # the lazy steps carry R1 + R2
    cfg = load_checkpoint(tmp_path / "run")["config"]["objective"]
    assert (cfg["loss"], cfg["r2_weight"], cfg["label_smoothing"]) == ("rpgan", 0.1, 0.0)
    with pytest.raises(ConfigError, match="--r2-weight is for"):
        Config.from_flat(loss="wgan-gp", r2_weight=0.1)


def test_the_ladder_ends_at_the_recipes_it_names(cpu_box):
    from dcgan.settings.config import recipe_ladder
    from dcgan.settings.recipes import DEFAULT_RECIPE

    ladder = recipe_ladder()
    assert list(ladder)[-2:] == ["r1-ema", DEFAULT_RECIPE] and list(ladder)[0] == "grad-clip"
    for recipe in ("r1-ema", DEFAULT_RECIPE):  # classic plus the step's changes is the recipe itself
        assert Config.from_flat(recipe="classic", **ladder[recipe]) == Config.from_flat(recipe=recipe)
