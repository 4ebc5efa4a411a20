"""The HTML animation player: one self-contained page or notebook cell, no network request, inline icons."""

from __future__ import annotations

import base64
import html
import io
import json
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np


MAX_FRAMES = 60  # a long run keeps its first, last and evenly spaced snapshots: pages stay a few MB

# The controls' icons as inline SVG paths (24x24): no icon font, so nothing is fetched and a machine
# behind a firewall shows every button.
_ICONS = {
    "first": "M6 5h2v14H6zM20 5v14L9 12z",
    "prev": "M6 5h2v14H6zM18 5v14L9 12z",
    "play": "M7 4v16l13-8z",
    "pause": "M6 4h4v16H6zM14 4h4v16h-4z",
    "next": "M16 5h2v14h-2zM6 5v14l9-7z",
    "last": "M16 5h2v14h-2zM4 5v14l11-7z",
}

_STYLE = """
#{uid} {{ font-family: sans-serif; display: inline-block; }}
#{uid} img {{ image-rendering: pixelated; display: block; max-width: 100%; }}
#{uid} .dcgan-caption {{ text-align: center; margin: 4px 0; font-size: 14px; }}
#{uid} .dcgan-controls {{ display: flex; align-items: center; gap: 4px; margin-top: 6px; flex-wrap: wrap; }}
#{uid} button {{ width: 34px; height: 30px; padding: 3px; border: 1px solid #888; border-radius: 4px;
  background: #f4f4f4; cursor: pointer; }}
#{uid} button svg {{ width: 22px; height: 22px; fill: #222; display: block; margin: auto; }}
#{uid} input[type=range] {{ flex: 1; min-width: 120px; }}
"""

_SCRIPT = """
(function () {{
  var root = document.getElementById("{uid}");
  var frames = {frames}, titles = {titles}, icons = {icons};
  var img = root.querySelector("img"), caption = root.querySelector(".dcgan-caption");
  var slider = root.querySelector("input[type=range]"), speed = root.querySelector("select");
  var play = root.querySelector("button[data-act=play]");
  var i = 0, timer = null;
  function show(k) {{
    i = (k + frames.length) % frames.length;
    img.src = frames[i]; slider.value = i;
    caption.textContent = titles[i] + "  (" + (i + 1) + " / " + frames.length + ")";
  }}
  function setIcon(name) {{ play.innerHTML = icons[name]; play.title = name === "play" ? "play" : "pause"; }}
  function stop() {{ clearInterval(timer); timer = null; setIcon("play"); }}
  function start() {{
    stop(); setIcon("pause");
    timer = setInterval(function () {{ show(i + 1); }}, {interval} / Number(speed.value));
  }}
  root.querySelectorAll("button").forEach(function (b) {{
    b.addEventListener("click", function () {{
      var act = b.getAttribute("data-act");
      if (act === "play") {{ timer ? stop() : start(); return; }}
      stop();
      show(act === "first" ? 0 : act === "last" ? frames.length - 1 : act === "prev" ? i - 1 : i + 1);
    }});
  }});
  slider.addEventListener("input", function () {{ stop(); show(Number(slider.value)); }});
  speed.addEventListener("change", function () {{ if (timer) start(); }});
  show(0);
  if ({autoplay}) start();
}})();
"""


def _svg(name: str) -> str:
    return f'<svg viewBox="0 0 24 24" aria-hidden="true"><path d="{_ICONS[name]}"/></svg>'


def _png_uri(frame: str | Path | np.ndarray) -> str:
    """A data: URI of the frame as PNG: a grid file's own bytes (not re-encoded or enlarged)."""
    if isinstance(frame, np.ndarray):
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(frame).save(buf, format="PNG", optimize=True)
        data = buf.getvalue()
    else:
        data = Path(frame).read_bytes()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def keep_frames(n: int, limit: int = MAX_FRAMES) -> list[int]:
    """Which of n frames to show: all when n <= limit, else the first, the last and evenly spaced ones."""
    if n <= limit:
        return list(range(n))
    return sorted({round(k * (n - 1) / (limit - 1)) for k in range(limit)})


def player_html(frames: Sequence[str | Path | np.ndarray], *, titles: Sequence[str] | None = None,
                interval_ms: int = 500, autoplay: bool = True, max_frames: int = MAX_FRAMES) -> str:
    """A player for the frames (PNG files or uint8 arrays): the image, its caption, first / previous /
    play-pause / next / last buttons, a slider and a speed choice. Everything is inline."""
    if not frames:
        raise ValueError("no frames to animate: the run has written no snapshots yet")
    chosen = keep_frames(len(frames), max_frames)
    titles = [titles[k] if titles else f"frame {k + 1}" for k in chosen]
    uris = [_png_uri(frames[k]) for k in chosen]
    uid = f"dcgan-player-{uuid.uuid4().hex[:12]}"
    buttons = "".join(f'<button type="button" data-act="{act}" title="{act}">{_svg(act)}</button>'
                      for act in ("first", "prev", "play", "next", "last"))
    speeds = "".join(f'<option value="{s}"{" selected" if s == 1 else ""}>{s}x</option>' for s in (0.5, 1, 2, 4))
    script = _SCRIPT.format(uid=uid, frames=json.dumps(uris), titles=json.dumps(titles),
                            icons=json.dumps({k: _svg(k) for k in ("play", "pause")}), interval=int(interval_ms),
                            autoplay="true" if autoplay else "false")
    return (f'<div id="{uid}" class="dcgan-player"><style>{_STYLE.format(uid=uid)}</style>'
            f'<div class="dcgan-caption">{html.escape(titles[0])}</div>'
            f'<img id="_anim_img{uid}" alt="generator samples">'
            f'<div class="dcgan-controls">{buttons}'
            f'<input type="range" min="0" max="{len(uris) - 1}" value="0" aria-label="frame">'
            f'<label>speed <select>{speeds}</select></label></div>'
            f"<script>{script}</script></div>")


def write_player_page(player: str, path: str | Path, title: str = "DCGAN training progress") -> Path:
    """The player as a standalone page that opens from disk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    from .diskio import replacing

    with replacing(path) as tmp:
        tmp.write_text(f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>\n"
                       f"<body>\n<h3>Generator samples on fixed noise during training</h3>\n{player}\n</body></html>\n")
    return path
