"""Config validation: bad values fail up front with the setting's name and the valid choices."""

import pytest

from dcgan.settings.config import Config, ConfigError, TrainConfig


@pytest.mark.parametrize("settings, message", [
    ({"image_size": 50}, "--image-size 50 cannot be built: sizes are s0 x 2"),
    ({"image_size": 512}, "up to 256"),
    ({"image_size": 8}, "nearest: 12"),
    ({"batch_size": 0}, "--batch-size must be a positive integer"),
    ({"lr": -1.0}, "--lr must be positive"),
    ({"dataset": "imagenet"}, "choose one of fashion-mnist, mnist, cifar10, celeba, folder"),
    ({"dataset": "folder"}, "--dataset folder needs --folder"),
    ({"epochs": 0, "max_steps": 0}, "nothing to train"),
    ({"device": "tpu"}, "--device must be one of"),
    ({"colour": 3}, "unknown setting 'colour'; valid settings are"),
    ({"loss": "wasserstein"}, "--loss 'wasserstein' is not known; choose one of bce, minimax, wgan"),
    ({"on_divergence": "panic"}, "--on-divergence .panic. is not known; choose one of stop, rollback"),
    ({"precision": "fp8"}, "--precision .fp8. is not known; choose one of auto, fp32, bf16"),
    ({"d_norm": "group"}, "choose one of auto, batch, layer, instance, none"),
    ({"cuda_graphs": True}, "--cuda-graphs works through torch.compile"),
])
def test_bad_settings(settings, message):
    with pytest.raises(ConfigError, match=message):
        Config.from_flat(**settings)


def test_round_trip_through_dict():
    cfg = Config.from_flat(ngf=32, dataset="mnist", max_steps=7, deterministic=True)
    assert Config.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="valid ones are"):
        Config.from_dict({"train": {"bogus": 1}})
    # a config written before --penalty-clip keeps the joint clip that code had; a new one its own
    old = cfg.to_dict()
    del old["objective"]["penalty_clip"]
    assert Config.from_dict(old).objective.penalty_clip == "joint" and cfg.objective.penalty_clip == "own"


def test_defaults_are_the_default_recipe_and_classic_is_the_paper(cpu_box):
    cfg = Config()
    assert cfg == Config.from_flat()  # one set of defaults, however the config is built
    classic = Config.from_flat(recipe="classic")
    assert (classic.model.nz, classic.train.lr, classic.train.beta1, classic.train.beta2, classic.train.batch_size,
            classic.objective.grad_clip) == (100, 2e-4, 0.5, 0.999, 128, 0.0)
    assert isinstance(cfg.train, TrainConfig)


def test_every_setting_has_help_and_the_run_defining_ones_are_marked():
    from dcgan.settings.config import ROLES, flat_fields, run_defining

    assert all(f.metadata["help"] and f.metadata["role"] in ROLES for f in flat_fields().values())
    defining = run_defining()
    assert "batch_size" in defining["train"] and "lr" not in defining["train"] and defining["objective"] == ("loss",)


def test_checks_and_flags_come_from_the_declarations(capsys):
    """A declared range or list of choices is the check, the message and the CLI's choices at once."""
    import argparse

    from dcgan.cli import build_parser
    from dcgan.settings.config import SECTION_OF, flag, flat_fields, with_role

    fields = flat_fields()
    for name, f in fields.items():
        m = f.metadata
        if m["choices"]:
            with pytest.raises(ConfigError, match=f"{flag(name)} 'nonsense' is not known; choose one of "):
                Config.from_flat(**{name: "nonsense"})
        elif m["at_least"] is not None and not isinstance(f.default, bool):
            bad = m["at_least"] - 1
            with pytest.raises(ConfigError, match=f"^{flag(name)} must .*got {bad!r}"):
                Config.from_flat(**{name: bad})
    train = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)).choices["train"]
    choices = {a.dest: a.choices for a in train._actions if a.dest in fields}
    assert all(tuple(choices[n] or ()) == tuple(f.metadata["choices"] or ()) for n, f in fields.items()
               if not isinstance(f.default, bool))
    assert set(SECTION_OF) == set(fields)
    assert {"out", "device", "data_root", "progress"} <= with_role("watch")
    assert "snapshot_every" in with_role("write") and "lr" not in with_role("write", "watch")
