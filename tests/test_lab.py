"""02_train run the way users run it: JupyterLab in a real (system) Chromium, every cell through the UI."""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
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


@pytest.fixture()
def lab(tmp_path, fmnist_root):
    """A JupyterLab server on 127.0.0.1 with a token, serving a copy of 02_train; stopped by its pid."""
    folder = tmp_path / "notebooks"
    folder.mkdir()
    real_run = os.environ.get("DCGAN_LAB_REAL_RUN")  # the README's picture: a finished `make train` run, shown
    if real_run:  # with the notebook's own defaults (it resumes the finished run, so nothing trains)
        shutil.copytree(real_run, tmp_path / "run")
        _notebook_with({"data_root": str(REPO / "data"), "out_dir": str(tmp_path / "run")}, folder / "02_train.ipynb")
    else:
        _notebook_with({**TINY, "data_root": str(fmnist_root), "out_dir": str(tmp_path / "run")},
                       folder / "02_train.ipynb")
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
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
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
    yield url, token, tmp_path
    server.terminate()  # the server this test started, by its own pid
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
    log.close()


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
        page.locator("img[id^=_anim_img]").scroll_into_view_if_needed()  # the picture: the live player
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
