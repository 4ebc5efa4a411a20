"""02_train run the way users run it: JupyterLab in a real (system) Chromium, every cell through the UI."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import REPO


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (requirements.txt)")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; "
                                                         ".ci/run installs it)")

TINY = {"batch_size": 32, "snapshot_every": 8,
        "overrides": {"nz": 16, "ngf": 8, "ndf": 8, "max-steps": 24, "checkpoint-every": 8}}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook_with(parameters: dict, target: Path) -> None:
    """notebooks/02_train.ipynb with its parameters cell edited, as a user edits it before running."""
    nb = json.loads((REPO / "notebooks" / "02_train.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    lines = "".join(cell["source"]).splitlines()
    for key, value in parameters.items():
        lines = [f"{key} = {value!r}" if line.split("=")[0].strip() == key else line for line in lines]
    cell["source"] = "\n".join(lines)
    target.write_text(json.dumps(nb))


@contextmanager
def _jupyterlab(folder: Path, tmp_path: Path):
    """A JupyterLab server on 127.0.0.1 with a token, serving `folder`; stopped by its pid."""
    settings = tmp_path / "settings"
    settings.mkdir()
    overrides = json.loads((REPO / "jupyter" / "overrides.json").read_text())  # what `make lab` installs
    # plus every cell kept in the page (JupyterLab renders only the visible ones by default), so the
    # test reads every output
    overrides["@jupyterlab/notebook-extension:tracker"] = {"windowingMode": "none"}
    (settings / "overrides.json").write_text(json.dumps(overrides))
    port, token = _free_port(), "dcgan-test-token"
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},  # the venv's installed dcgan
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
           "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "ws")}
    cmd = [sys.executable, "-m", "jupyterlab", f"--config={REPO / 'jupyter' / 'jupyter_server_config.py'}",
           "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           f"--IdentityProvider.token={token}", f"--notebook-dir={folder}", f"--LabApp.app_settings_dir={settings}",
           "--ServerApp.disable_check_xsrf=False"] + (["--allow-root"] if os.getuid() == 0 else [])
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=folder)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
            break
        except OSError:
            assert server.poll() is None, (tmp_path / "lab.log").read_text()[-3000:]
            assert time.time() < deadline, "JupyterLab did not start in 90 s"
            time.sleep(0.5)
    try:
        yield url, token
    finally:
        server.terminate()  # the server this test started, by its own pid
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture()
def lab(tmp_path, fmnist_root):
    """JupyterLab serving a copy of 02_train."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    real_run = os.environ.get("DCGAN_LAB_REAL_RUN")  # the README's picture: a finished `make train` run, shown
    if real_run:  # with the notebook's own defaults (it resumes the finished run, so nothing trains)
        shutil.copytree(real_run, tmp_path / "run")
        _notebook_with({"data_root": str(REPO / "data"), "out_dir": str(tmp_path / "run")}, folder / "02_train.ipynb")
    else:
        _notebook_with({**TINY, "data_root": str(fmnist_root), "out_dir": str(tmp_path / "run")},
                       folder / "02_train.ipynb")
    with _jupyterlab(folder, tmp_path) as (url, token):
        yield url, token, tmp_path


def _notebook(cells: list[str], target: Path) -> None:
    """A notebook of code cells, as a user would type them."""
    nb = {"cells": [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": source} for i, source in enumerate(cells)],
          "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
          "nbformat": 4, "nbformat_minor": 5}
    target.write_text(json.dumps(nb))


def _open(p, url, token, name):
    """Chromium on a notebook, once its kernel is idle (earlier, a run request can be lost)."""
    browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{url}/lab/tree/{name}?token={token}")
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    _wait_idle(page)
    return browser, page


def _wait_idle(page):
    page.wait_for_function("() => document.querySelector('.jp-StatusBar-Widget, #jp-main-statusbar')"
                           " && document.body.innerText.includes('| Idle')", timeout=90_000)


def _run_all(page):
    page.click(".lm-MenuBar-itemLabel:text-is('Run')")
    page.click("li[data-command='runmenu:run-all']")


def _keep(tmp_path, name):
    shots = os.environ.get("DCGAN_SCREENSHOTS")  # set to a folder to keep the screenshot (docs/ was made so)
    if shots:
        shutil.copy(tmp_path / name, Path(shots) / name)


def test_train_notebook_runs_in_jupyterlab(lab):
    url, token, tmp_path = lab
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/02_train.ipynb?token={token}")
        page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
        assert not page.query_selector(".jp-Notification-Toast")  # no news prompt over the notebook
        # run everything once the kernel is connected and idle (earlier, the request can be lost)
        page.wait_for_function("() => document.querySelector('.jp-StatusBar-Widget, #jp-main-statusbar')"
                               " && document.body.innerText.includes('| Idle')", timeout=60_000)
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click("li[data-command='runmenu:run-all']")
        # the live grid appears while training runs, then the animation player in its own cell
        page.wait_for_selector(".jp-OutputArea-output img", timeout=180_000)
        page.wait_for_selector("img[id^=_anim_img]", timeout=180_000)
        # every code cell ran: the last one shows the real-vs-fake picture and the run folder
        page.wait_for_function("() => document.querySelector('.jp-Notebook').innerText.includes('run folder:')",
                               timeout=180_000)
        text = page.inner_text(".jp-Notebook")
        page.wait_for_function("() => document.body.innerText.includes('| Idle')", timeout=60_000)
        page.wait_for_timeout(1000)  # the last outputs land, and the notebook stops following them
        page.locator("img[id^=_anim_img]").last.scroll_into_view_if_needed()  # the progress cell's player
        page.wait_for_timeout(500)
        page.screenshot(path=str(tmp_path / "jupyterlab-02_train.png"), full_page=False)
        browser.close()
    assert "Traceback (most recent call last)" not in text  # no cell failed
    real = os.environ.get("DCGAN_LAB_REAL_RUN")  # the finished run is shown as it is; otherwise a new run trains
    assert ("already trained its" if real else "new run") in text
    run = tmp_path / "run" if real else next((tmp_path / "run").iterdir())
    assert (run / "checkpoints" / "last.pt").is_file() and (run / "progress.html").is_file()
    assert (tmp_path / "jupyterlab-02_train.png").stat().st_size > 10_000
    shots = os.environ.get("DCGAN_SCREENSHOTS")  # set to a folder to keep the screenshot (docs/ was made so)
    if shots:
        shutil.copy(tmp_path / "jupyterlab-02_train.png", Path(shots) / "jupyterlab-02_train.png")


def _status_line(page) -> str:
    return page.inner_text(".jp-Notebook b") if page.query_selector(".jp-Notebook b") else ""


def test_watch_a_run_trained_elsewhere_and_pick_it_up_after_a_reload(tmp_path, fmnist_root):
    """`dcgan train` in a terminal of its own; a notebook cell watches its folder, the page is reloaded (as
    after a dropped connection), the cell runs again and follows the run to its end."""
    run, folder = tmp_path / "run", tmp_path / "notebooks"
    folder.mkdir()
    _notebook([f"import dcgan\nwatcher = dcgan.watch({str(run)!r}, every=1)"], folder / "watch.ipynb")
    training = None
    with _jupyterlab(folder, tmp_path) as (url, token), playwright.sync_playwright() as p:
        browser, page = _open(p, url, token, "watch.ipynb")
        try:
            training = subprocess.Popen(
                [sys.executable, "-m", "dcgan", "train", "--data-root", str(fmnist_root), "--nz", "16", "--ngf", "8",
                 "--ndf", "8", "--batch-size", "32", "--max-steps", "1500", "--snapshot-every", "25",
                 "--checkpoint-every", "1500", "--out", str(run), "--no-progress", "--no-download"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "OMP_NUM_THREADS": "1"})
            _run_all(page)
            page.wait_for_selector(".jp-OutputArea-output img", timeout=120_000)
            first = page.get_attribute(".jp-OutputArea-output img", "src")
            page.wait_for_function("(src) => { const i = document.querySelector('.jp-OutputArea-output img');"
                                   " return i && i.getAttribute('src') !== src; }", arg=first, timeout=120_000)
            assert " - running" in _status_line(page)  # the grid moved on while the run trains
            page.reload()  # the connection dropped: the cell's output is gone from the page
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            _wait_idle(page)
            _run_all(page)  # the same cell again picks the run up where it is
            page.wait_for_selector(".jp-OutputArea-output img", timeout=120_000)
            seen = _status_line(page)
            page.wait_for_function("() => document.querySelector('.jp-Notebook').innerText.includes('- finished')",
                                   timeout=400_000)
            page.wait_for_selector("img[id^=_anim_img]", timeout=60_000)  # the player, once it ended
            page.screenshot(path=str(tmp_path / "jupyterlab-watch.png"), full_page=False)
            text = page.inner_text(".jp-Notebook")
        finally:
            browser.close()
            if training is not None:
                try:
                    training.wait(120)  # its last writes come after its status says finished
                except subprocess.TimeoutExpired:
                    training.kill()
    assert "iteration" in seen and "iteration 1500 of 1500" in text and "<Figure" not in text  # curves drawn
    assert training.returncode == 0
    _keep(tmp_path, "jupyterlab-watch.png")


def _menu(page, menu: str, command: str):
    page.click(f".lm-MenuBar-itemLabel:text-is('{menu}')")
    page.click(f"li[data-command='{command}']")


def _wait_text(page, text: str, timeout: int = 240_000):
    try:
        page.wait_for_function("(t) => document.querySelector('.jp-Notebook').innerText.includes(t)", arg=text,
                               timeout=timeout)
    except playwright.TimeoutError:
        raise AssertionError(f"{text!r} never showed; the notebook's text ends:\n"
                             + page.inner_text(".jp-Notebook")[-2000:]) from None


def _run_all_until(page, text: str, tries: int = 3):
    """Run All, again if the menu's click was lost (the notebook does not show `text` after a while)."""
    for attempt in range(tries):
        _run_all(page)
        try:
            page.wait_for_function("(t) => document.querySelector('.jp-Notebook').innerText.includes(t)", arg=text,
                                   timeout=30_000)
            return
        except playwright.TimeoutError:
            if attempt == tries - 1:
                raise AssertionError(f"Run All {tries} times, and {text!r} never showed:\n"
                                     + page.inner_text(".jp-Notebook")[-2000:]) from None
            _wait_idle(page)


def test_a_background_run_stopped_continued_and_a_reloaded_view_marked_stale(tmp_path, fmnist_root):
    """02 with background = True as a user runs it: the stop button ends the run with a checkpoint; Run All
    again continues it, and the view follows the new process instead of the old "interrupted"; after a reload
    the saved view says it is not live; Run All once more reattaches (nothing trains twice) and follows the run
    to finished. The notebook opens unmodified."""
    folder, runs = tmp_path / "notebooks", tmp_path / "runs"
    folder.mkdir()
    _notebook_with({**TINY, "overrides": {**TINY["overrides"], "max-steps": 3000, "checkpoint-every": 3000},
                    "snapshot_every": 50, "data_root": str(fmnist_root), "out_dir": str(runs), "background": True},
                   folder / "02_train.ipynb")
    with _jupyterlab(folder, tmp_path) as (url, token), playwright.sync_playwright() as p:
        browser, page = _open(p, url, token, "02_train.ipynb")
        try:
            assert page.locator(".lm-TabBar-tab.jp-mod-dirty").count() == 0  # opens unmodified
            _run_all(page)
            stop = page.locator(".jp-OutputArea-output button:has-text('stop')")
            stop.wait_for(timeout=120_000)
            _wait_text(page, " - running")
            stop.click()  # what Ctrl-C does: the iteration ends, a checkpoint is written
            _wait_text(page, "- stopped (interrupted, checkpoint written)")
            stop.wait_for(state="detached", timeout=30_000)  # the button goes with the run
            _wait_idle(page)
            _run_all_until(page, "continuing ")  # the same settings: the stopped run continues in a new process
            _wait_text(page, "continued from iteration")
            assert "- stopped" not in _status_line(page)
            _menu(page, "File", "docmanager:save")
            page.wait_for_timeout(1500)
            page.reload()  # the saved view of a run that goes on training
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
            _wait_idle(page)
            page.wait_for_timeout(12_000)  # STALE_AFTER, 10 s, without an update
            stale = page.locator(".jp-OutputArea-output .dcgan-stale")
            assert stale.count() == 1 and stale.is_visible() and "not live" in stale.inner_text()
            stale.scroll_into_view_if_needed()
            page.wait_for_timeout(500)
            page.screenshot(path=str(tmp_path / "jupyterlab-stale.png"), full_page=False)
            _run_all_until(page, "is training now with these settings")  # reattach: it only watches the run
            _wait_text(page, "- finished", timeout=400_000)
            _wait_text(page, "(final, ")
            text = page.inner_text(".jp-Notebook")
        finally:
            browser.close()
    (run,) = [d for d in runs.iterdir() if d.is_dir()]
    log = (run / "train.log").read_text()
    assert "stopped at iteration" in log and log.count("done: 3000 iterations") == 1  # trained once to the end
    assert "iteration 3000 of 3000" in text and "of training" in text and "Traceback" not in text
    _keep(tmp_path, "jupyterlab-stale.png")


def test_explorer_slider_moves_the_image(tmp_path, fmnist_root):
    from dcgan.training.loop import train

    from conftest import tiny_config

    real_run = os.environ.get("DCGAN_LAB_REAL_RUN")  # the README's picture: a finished `make train` run
    if real_run:
        shutil.copytree(real_run, tmp_path / "run")
    else:
        train(tiny_config(fmnist_root, tmp_path / "run", max_steps=8, snapshot_every=8, checkpoint_every=8))
    folder = tmp_path / "notebooks"
    folder.mkdir()
    _notebook([f"import dcgan\nG = dcgan.load_generator({str(tmp_path / 'run')!r}, 'cpu')\n"
               "dcgan.explorer(G, directions=3)"], folder / "explore.ipynb")
    with _jupyterlab(folder, tmp_path) as (url, token), playwright.sync_playwright() as p:
        browser, page = _open(p, url, token, "explore.ipynb")
        try:
            _run_all(page)
            page.wait_for_selector(".jp-OutputArea-output .widget-image, .jp-OutputArea-output img", timeout=120_000)
            image = ".jp-OutputArea-output img"
            before = page.get_attribute(image, "src")
            handles = page.locator(".jp-OutputArea-output .noUi-handle")
            handles.nth(1).focus()  # direction 0 (the first slider is the seed)
            for _ in range(10):
                page.keyboard.press("ArrowRight")
            page.wait_for_function("(src) => document.querySelector('.jp-OutputArea-output img').getAttribute('src')"
                                   " !== src", arg=before, timeout=60_000)
            # drawn at its own size and shape, not stretched to the sliders' column
            natural_w, natural_h, shown_w, shown_h = page.evaluate(
                "() => { const i = document.querySelector('.jp-OutputArea-output img'); const r = "
                "i.getBoundingClientRect(); return [i.naturalWidth, i.naturalHeight, r.width, r.height]; }")
            assert (shown_w, shown_h) == (natural_w, natural_h) and natural_w == natural_h >= 256
            page.screenshot(path=str(tmp_path / "jupyterlab-explorer.png"), full_page=False)
        finally:
            browser.close()
    _keep(tmp_path, "jupyterlab-explorer.png")
