"""What earlier versions wrote or named, translated to today's: old recipe names, settings that older
configs lack or keep in another section. Current code reads current names; only this module knows the old."""

from __future__ import annotations

from typing import Any


# A recipe's old name, trained as the recipe it became.
RENAMED = {"fast-g-ema-r1-b64": "r1-ema"}

# Old recipes that were steps toward the default recipe, now steps of recipes.STEPS (each trains with a note).
RETIRED_AS = {"tuned": "grad-clip", "fast": "clip-lr4", "fast-g": "clip-g8-d4", "fast-g-ema": "clip-g12-d4-ema-smooth",
              "fast-g-ema-r1": "fge-r1-lazy"}

# Settings added with a default that differs from what the code did before them: a config written
# earlier (a checkpoint resumed, evaluated or sampled) keeps the old behaviour.
WRITTEN_BEFORE: dict[str, dict[str, Any]] = {
    "model": {"model_version": 1},  # G and D had no stride-1 start block at 28, 40, 56... px
    "objective": {"penalty_clip": "joint"},  # R1's gradient was clipped with the loss's before the setting
}

# Settings that moved to another section: (old section, new section).
MOVED = {"lr_g": ("objective", "train"), "lr_d": ("objective", "train"), "optimizer": ("objective", "train")}


def upgrade_sections(sections: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A config dict as an older version wrote it, with moved settings in today's sections (a copy)."""
    sections = {name: dict(values) for name, values in sections.items()}
    for key, (old, new) in MOVED.items():
        if key in sections.get(old, {}):
            value = sections[old].pop(key)
            sections.setdefault(new, {}).setdefault(key, value)
    return sections
