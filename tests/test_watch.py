"""Watching runs from their folders, training in a process of its own, exploring a G, comparing reruns."""

import time

import pytest
import torch

from dcgan.lab.compare import differences_html, differing_settings, plot_last_grids, plot_losses_overlaid
from dcgan.lab.explore import Point, _first_activations, explorer, latent_directions, render
from dcgan.lab.rerun import plan_run
from dcgan.lab.watch import Watcher, read_run, start_training
from dcgan.sample import load_generator
from dcgan.settings.config import ConfigError
from dcgan.training.loop import train

from conftest import tiny_config


@pytest.fixture(scope="module")
def finished(fmnist_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("watched")
    train(tiny_config(fmnist_root, root / "a", max_steps=8, snapshot_every=2, checkpoint_every=8))
    train(tiny_config(fmnist_root, root / "b", max_steps=8, snapshot_every=2, checkpoint_every=8, lr=1e-4))
    train(tiny_config(fmnist_root, root / "cond", max_steps=4, snapshot_every=2, checkpoint_every=4,
                      condition="class"))
    return root


def test_a_finished_run_reads_as_finished(finished):
    view = read_run(finished / "a")
    assert (view.status, view.iteration, view.planned, view.epoch) == ("finished", 8, 8, 0)
    assert view.grid.name == "step_0000008.png" and view.seconds_left is None
    assert view.line().startswith("a: iteration 8 of 8, epoch 0") and view.line().endswith("- finished")
    assert "s of training" in view.line() and "it/s" not in view.line()  # a finished run's time, not a speed
    assert read_run(finished / "nothing-yet").status == "starting"


def test_a_run_in_its_own_process_is_watched_stopped_and_continued(fmnist_root, tmp_path):
    config = tiny_config(fmnist_root, "", max_steps=1500, snapshot_every=20, checkpoint_every=1500)
    plan = plan_run(config, tmp_path)
    training = start_training(plan)
    try:
        seen = []
        deadline = time.time() + 240
        while len({v.iteration for v in seen if v.iteration}) < 2:  # the watcher sees the run move
            assert training.running and time.time() < deadline, training.log.read_text()[-2000:]
            seen.append(read_run(plan.run_dir))
            time.sleep(0.5)
        moving = seen[-1]
        assert moving.status == "running" and moving.planned == 1500
        assert moving.its_per_second and moving.seconds_left > 0 and "it/s" in moving.line()
        # Run All again while it trains: the notebook watches it, and nothing resumes it a second time
        busy = plan_run(config, tmp_path)
        assert busy.action == "training" and "is training now" in str(busy) and busy.run_dir == plan.run_dir
        with pytest.raises(ConfigError, match="is being trained right now by process"):
            train(busy.config, resume=busy.run_dir)
    finally:
        code = training.stop()  # as Ctrl-C: the iteration ends and a checkpoint is written
    assert code == 0
    stopped = read_run(plan.run_dir)
    assert stopped.status == "interrupted" and (plan.run_dir / "checkpoints" / "last.pt").is_file()
    again = plan_run(config, tmp_path)  # the same settings: the stopped run continues, in its own process too
    assert again.action == "continue" and again.run_dir == plan.run_dir
    assert start_training(again).wait(300) == 0
    done = read_run(plan.run_dir)
    assert (done.status, done.iteration) == ("finished", 1500)
    log = (plan.run_dir / "train.log").read_text()  # the launch's files sit in the run folder, none beside it
    assert "done: 1500 iterations" in log and "stopped at iteration" in log
    assert sorted(p.name for p in tmp_path.iterdir()) == [plan.run_dir.name]
    assert (plan.run_dir / "settings.json").is_file() and done.train_seconds > 0


def test_the_watcher_follows_to_the_end_outside_a_browser(finished, capsys):
    watcher = Watcher(finished / "a", every=0.1)
    view = watcher.wait(60)
    assert view.status == "finished" and watcher.ended
    assert "iteration 8 of 8" in capsys.readouterr().out  # IPython's displays fall back to text here


def test_latent_directions_are_the_ones_the_first_layer_varies_most_with(finished):
    G = load_generator(finished / "a", "cpu")
    dirs = latent_directions(G, k=4, n=800)
    assert dirs.shape == (4, G.nz) and torch.allclose(dirs.norm(dim=1), torch.ones(4), atol=1e-5)
    z = torch.randn(64, G.nz, generator=torch.Generator().manual_seed(1))
    base = _first_activations(G, z).flatten(1)
    moved = [(_first_activations(G, z + 2 * d).flatten(1) - base).norm(dim=1).mean().item() for d in dirs]
    assert moved[0] > moved[-1]  # the first direction moves the activations more than the fourth


def test_render_and_the_explorer_follow_their_controls(finished):
    G = load_generator(finished / "a", "cpu")
    dirs = latent_directions(G, k=3, n=400)
    one, other = render(G, Point(seed=1), dirs), render(G, Point(seed=2), dirs)
    assert one.startswith(b"\x89PNG") and one != other
    assert render(G, Point(seed=1, truncation=0.0), dirs) == render(G, Point(seed=2, truncation=0.0), dirs)
    assert render(G, Point(seed=1, steps=(2.0,)), dirs) != one
    assert render(G, Point(seed=1, seed_b=2, towards_b=1.0), dirs) == other  # all the way to seed B
    panel = explorer(G, directions=3, seed=1)
    before = panel.children[0].value
    slider = panel.children[1].children[1]  # direction 0
    slider.value = 2.5
    assert panel.children[0].value != before and panel.point().steps[0] == 2.5
    cond = explorer(load_generator(finished / "cond", "cpu"), directions=2)
    menu = cond.children[1].children[-1]
    assert menu.description == "class" and len(menu.options) == 10
    first = cond.children[0].value
    menu.value = 7
    assert cond.children[0].value != first


def test_comparing_reruns_shows_only_what_differs(finished):
    runs = [finished / "a", finished / "b"]
    table = differing_settings(runs)
    assert table == {"a": {"lr": 4e-4, "lr_g": 1.2e-3}, "b": {"lr": 1e-4, "lr_g": pytest.approx(3e-4)}}
    assert "<th>lr</th>" in differences_html(runs) and "<td>b</td>" in differences_html(runs)
    assert "same settings" in differences_html([finished / "a", finished / "a"])
    assert len(plot_last_grids(runs).axes) == 2 and len(plot_losses_overlaid(runs).axes) == 2


class _Launched:
    """Stands in for start_training's handle: when it was launched, and whether it still runs."""

    def __init__(self, started_at: float, running: bool = True):
        self.started_at, self.running, self.process = started_at, running, object()


def _status(run, status, at, iteration, **extra):
    import json

    run.mkdir(parents=True, exist_ok=True)
    (run / "status.json").write_text(json.dumps({"status": status, "planned": 150, "iteration": iteration,
                                                 "time": at, "started": at - 10, **extra}))


def test_the_watchers_states_from_status_files_in_every_order(tmp_path):
    """starting, running, quiet, stopped, continued, finished, exited: what a watcher makes of the status a
    run folder holds, with and without the process a notebook launched."""
    import os
    import socket

    from dcgan.lab.watch import FINAL, phase

    run, now = tmp_path / "run", time.time()
    assert phase(read_run(run)) == "starting"  # nothing written yet
    _status(run, "interrupted", now - 100, 80)  # a stopped run, as Run All finds it again
    assert phase(read_run(run)) == "stopped" in FINAL
    launched = _Launched(started_at=now)  # its continuation was just launched: the old word is not final
    view = read_run(run)
    assert phase(view, launched) == "starting" and "it stood interrupted at iteration 80" in view.line("starting")
    _status(run, "running", now + 5, 90, start_iteration=80)
    view = read_run(run)
    assert phase(view, launched) == "running" and "continued from iteration 80" in view.line("running")
    assert view.its_per_second == pytest.approx(1.0)  # steady: (90 - 80) over the 10 s since it began
    _status(run, "finished", now + 20, 150, train_seconds=125.0)
    view = read_run(run)
    assert phase(view, launched) == "finished" and "2m05s of training" in view.line("finished")
    _status(run, "interrupted", now - 0.5, 80)  # the stop's word, half a second before Run All launched again
    assert phase(read_run(run), _Launched(now)) == "starting"
    _status(run, "interrupted", now - 100, 80)  # launched, then gone without writing a word
    assert phase(read_run(run), _Launched(now, running=False)) == "exited"
    _status(run, "running", now + 5, 90)  # began, then killed: its status still says running
    assert phase(read_run(run), _Launched(now, running=False)) == "exited"
    # no launch known: a running status that went quiet is quiet unless its writer still runs here
    _status(run, "running", now, 90, pid=2**22 + 12345, host=socket.gethostname())
    os.utime(run / "status.json", (now - 300, now - 300))
    assert phase(read_run(run)) == "quiet"
    _status(run, "running", now, 90, pid=os.getppid(), host=socket.gethostname())  # a live process, not this one
    os.utime(run / "status.json", (now - 300, now - 300))
    assert phase(read_run(run)) == "running"  # slow, but its process is alive
    _status(run, "diverged", now, 90)
    assert phase(read_run(run)) == "diverged"


def test_a_watcher_follows_a_continued_run_to_its_real_end(tmp_path, capsys):
    """The continued run's process was just launched; its folder still says interrupted. The watcher waits
    for the new process's word and follows it to finished."""
    run, now = tmp_path / "run", time.time()
    _status(run, "interrupted", now - 100, 80)
    watcher = Watcher(run, every=0.05, training=_Launched(started_at=now))
    time.sleep(0.5)
    assert not watcher.ended and watcher.phase == "starting"
    _status(run, "running", time.time(), 100, start_iteration=80)
    time.sleep(0.3)
    assert not watcher.ended and watcher.phase == "running"
    _status(run, "finished", time.time(), 150, train_seconds=30.0)
    assert watcher.wait(10).status == "finished" and watcher.phase == "finished"
    out = capsys.readouterr().out
    assert "it stood interrupted" in out and "continued from iteration 80" in out and "30s of training" in out
    assert "as of" not in out and "@keyframes" not in out  # the page's clock is for the page


def test_views_say_how_old_they_are(tmp_path, capsys):
    from dcgan.lab.watch import _line_html

    run, now = tmp_path / "run", time.time()
    _status(run, "running", now, 90)
    live = _line_html(read_run(run), "running")
    assert "(as of " in live and "class='dcgan-stale'" in live and "visibility: hidden" in live
    assert "animation: dcgan-stale-" in live and "10s forwards" in live and "not live" in live
    final = _line_html(read_run(run), "finished")
    assert "(final, " in final and "dcgan-stale" not in final
    watcher = Watcher(run, every=0.05)
    time.sleep(0.3)
    watcher.stop()
    watcher.wait(5)
    assert "not live; run this cell again" in capsys.readouterr().out
