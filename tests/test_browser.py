"""progress.html plays in a real browser, offline: its frames load, the player advances on its own,
every control is drawn, and the page asks the network for nothing."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

from dcgan.viz import animation_html


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# Appended to a copy of the page: after the page has played for a while (virtual time), record
# the slider position and whether the frame image decoded, where --dump-dom can read them.
PROBE = """<script>
window.addEventListener('load', function () {
  var slider = document.querySelector('input[type=range]');
  var img = document.querySelector('img[id^=_anim_img]');
  var seen = {};
  var timer = setInterval(function () { seen[slider.value] = true; }, 50);
  setTimeout(function () {
    clearInterval(timer);
    var icons = Array.prototype.map.call(document.querySelectorAll('button svg'), function (s) {
      var r = s.getBoundingClientRect(); return [r.width, r.height]; });
    var fetched = performance.getEntriesByType('resource').map(function (e) { return e.name; });
    document.body.setAttribute('data-probe', JSON.stringify({
      frames: Number(slider.max) + 1, positions: Object.keys(seen).length,
      loaded: img.complete && img.naturalWidth > 0, width: img.naturalWidth,
      icons: icons, fetched: fetched}));
  }, 4000);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; "
                                             ".ci/run installs it)")
def test_progress_page_plays_in_chromium(tmp_path):
    frames = [np.full((40, 60), v, dtype=np.uint8) for v in (0, 60, 120, 180, 240)]
    page = tmp_path / "progress.html"
    animation_html(frames, page, interval_ms=200)
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    result = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-quic", "--host-resolver-rules=MAP * ~NOTFOUND",  # no network: as behind a firewall
         f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000",
         "--dump-dom", probed.as_uri()],
        capture_output=True, text=True, timeout=120)
    match = re.search(r"data-probe=\"([^\"]+)\"", result.stdout)
    assert match, f"the probe did not report; chromium said: {result.stderr[-2000:]}"
    probe = json.loads(match.group(1).replace("&quot;", '"'))
    assert probe["frames"] == 5
    assert probe["loaded"] and probe["width"] > 0  # the frame image decoded
    assert probe["positions"] >= 3  # the player moved through frames without a click
    assert probe["fetched"] == []  # no request left the page (no CDN icon font, no remote script)
    assert len(probe["icons"]) == 5 and all(w >= 16 and h >= 16 for w, h in probe["icons"])  # drawn controls
