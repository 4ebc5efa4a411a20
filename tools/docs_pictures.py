"""Draw the README's pictures from a finished run: real vs fake, and the animation player in Chromium.

    make train && .venv/bin/python tools/docs_pictures.py outputs/fashion-mnist-default
    DCGAN_LAB_REAL_RUN=outputs/fashion-mnist-default DCGAN_SCREENSHOTS=docs \\
        .venv/bin/python -m pytest -q tests/test_lab.py        # the JupyterLab picture, from the same run

Writes docs/default_run.png (the run's real_vs_fake.png) and docs/player.png (RUN/progress.html in
headless Chromium, paused on the last frame). Needs `apt-get install chromium` and playwright.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a finished run folder")
    parser.add_argument("--out", default="docs")
    args = parser.parse_args()
    run, out = Path(args.run), Path(args.out)
    page = run / "progress.html"
    if not page.is_file() or not (run / "real_vs_fake.png").is_file():
        raise SystemExit(f"{run} has no progress.html or real_vs_fake.png: give a finished run folder")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("Chromium is not installed: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(run / "real_vs_fake.png", out / "default_run.png")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        view = browser.new_page(viewport={"width": 760, "height": 720})
        view.goto(page.resolve().as_uri())
        view.wait_for_selector("img[id^=_anim_img]")
        view.click(".dcgan-player button[data-act=last]")  # stops the autoplay on the run's last grid
        view.wait_for_timeout(500)
        view.locator(".dcgan-player").screenshot(path=str(out / "player.png"))
        browser.close()
    print(f"wrote {out / 'default_run.png'} and {out / 'player.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
