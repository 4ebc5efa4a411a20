"""Running again with the same or edited settings: plan_run continues, extends, or starts a new run."""

import json
import os
import signal

import pytest

from dcgan.lab.rerun import plan_run
from dcgan.settings.config import ConfigError
from dcgan.training.loop import train

from conftest import tiny_config


def settings(fmnist_root, **overrides):
    return tiny_config(fmnist_root, "", **{"max_steps": 8, "snapshot_every": 4, "checkpoint_every": 4, **overrides})


def run(plan):
    return train(plan.config, resume=plan.resume)


def test_first_run_then_an_edit_is_a_new_folder_named_by_the_change(fmnist_root, tmp_path):
    first = plan_run(settings(fmnist_root), tmp_path)
    assert first.action == "new" and first.resume is None and "the first run in" in str(first)
    assert first.run_dir.parent == tmp_path and first.run_dir.name.endswith("-fashion-mnist-32px")
    assert first.config.train.out == str(first.run_dir)
    run(first)
    before = {p: p.stat().st_mtime_ns for p in first.run_dir.rglob("*")}

    edited = plan_run(settings(fmnist_root, lr=1e-4), tmp_path)
    assert edited.action == "new" and edited.resume is None
    assert f"lr 0.0004 -> 0.0001, lr_g 0.0012 -> 0.0003 against {first.run_dir.name}" in str(edited)
    assert edited.run_dir.name.split("-", 2)[2] == "lr-0.0001_lr_g-0.0003"
    history = run(edited)
    assert history["iteration"][-1] == 8  # its full length
    assert {p: p.stat().st_mtime_ns for p in first.run_dir.rglob("*")} == before  # the old run untouched

    # going back to the first settings finds that run again: it is finished, so nothing trains
    again = plan_run(settings(fmnist_root), tmp_path)
    assert again.action == "finished" and again.run_dir == first.run_dir
    assert "already trained its 8 iterations" in str(again)
    assert run(again)["iteration"][-1] == 8


def test_a_stopped_run_continues_and_a_longer_one_extends_only_when_asked(fmnist_root, tmp_path):
    def stop_at_4(step, path, history):
        if step == 4:
            os.kill(os.getpid(), signal.SIGINT)  # what the notebook's stop button sends

    plan = plan_run(settings(fmnist_root), tmp_path)
    train(plan.config, on_snapshot=stop_at_4)
    again = plan_run(settings(fmnist_root), tmp_path)
    assert again.action == "continue" and again.resume == plan.run_dir
    assert str(again) == f"continuing {plan.run_dir} at iteration 4 of 8: same settings, it stopped (interrupted)"
    assert run(again)["iteration"][-1] == 8

    longer = plan_run(settings(fmnist_root, max_steps=12), tmp_path)
    assert longer.action == "new" and "max_steps 8 -> 12" in str(longer)
    assert "(extend = True would continue it instead)" in str(longer)
    extended = plan_run(settings(fmnist_root, max_steps=12), tmp_path, extend=True)
    assert extended.action == "extend" and extended.resume == plan.run_dir
    assert str(extended) == f"extending {plan.run_dir} from 8 iterations to 12 iterations (at iteration 8)"
    assert run(extended)["iteration"][-1] == 12
    assert len(list(tmp_path.iterdir())) == 1  # everything happened in the one run folder

    with pytest.raises(ConfigError, match=r"extend = True asks to lengthen .*\(12 iterations\).* 6 iterations"):
        plan_run(settings(fmnist_root, max_steps=6), tmp_path, extend=True)
    # extend with another setting changed too: a new run, since the settings are not that run's
    assert plan_run(settings(fmnist_root, max_steps=16, seed=1), tmp_path, extend=True).action == "new"


def test_a_killed_run_continues_from_its_checkpoint_and_a_diverged_one_says_so(fmnist_root, tmp_path):
    plan = plan_run(settings(fmnist_root), tmp_path)
    run(plan)
    status = plan.run_dir / "status.json"
    record = json.loads(status.read_text())
    status.write_text(json.dumps({**record, "status": "running", "iteration": None}))  # killed mid-run
    (plan.run_dir / "checkpoints" / "last.pt").replace(plan.run_dir / "checkpoints" / "kept.pt")
    (plan.run_dir / "checkpoints" / "step_0000004.pt").replace(plan.run_dir / "checkpoints" / "last.pt")
    again = plan_run(settings(fmnist_root), tmp_path)
    assert again.action == "continue" and "at iteration 4 of 8: same settings, it stopped before its end" in str(again)

    status.write_text(json.dumps({**record, "status": "diverged", "iteration": 6}))
    with pytest.raises(ConfigError, match="diverged at iteration 6 with these settings"):
        plan_run(settings(fmnist_root), tmp_path)


def test_watching_settings_do_not_make_a_new_run(fmnist_root, tmp_path):
    plan = plan_run(settings(fmnist_root), tmp_path)
    run(plan)
    other_place = plan_run(settings(fmnist_root, device="cpu", progress=True, log_every=1, checkpoint_every=2,
                                    keep_last=1, snapshot_every=2, eval_every=4, tensorboard=True), tmp_path)
    assert other_place.action == "finished" and other_place.run_dir == plan.run_dir
    assert plan_run(settings(fmnist_root, lr=1e-4), tmp_path).action == "new"  # how it trains: a new run


def test_a_run_without_a_checkpoint_is_not_continued(fmnist_root, tmp_path):
    plan = plan_run(settings(fmnist_root), tmp_path)
    plan.run_dir.mkdir()
    (plan.run_dir / "config.json").write_text(json.dumps(plan.config.to_dict()))  # stopped before a checkpoint
    again = plan_run(settings(fmnist_root), tmp_path)
    assert again.action == "new" and again.run_dir != plan.run_dir
    assert "has these settings but no checkpoint to continue from" in str(again)
