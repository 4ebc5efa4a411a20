"""A notebook's parameters cell as a configuration: the settings it names, its overrides, and a printout."""

from __future__ import annotations

import textwrap
from typing import Any

from ..settings.config import Config, flat_fields, with_role
from ..settings.errors import ConfigError
from ..settings.recipes import DEFAULT_RECIPE


def config_from_cell(namespace: dict[str, Any], *, recipe: str = DEFAULT_RECIPE,
                     overrides: dict[str, Any] | None = None) -> Config:
    """The configuration a parameters cell asks for: every variable of `namespace` (the notebook's
    globals()) named as a setting, None leaving it to the recipe; then `overrides`, any other setting by
    its command-line name ("ema-decay") or its Python one ("ema_decay")."""
    fields = flat_fields()
    named = {k: v for k, v in namespace.items() if k in fields and v is not None}
    extra = {}
    for key, value in (overrides or {}).items():
        name = str(key).lstrip("-").replace("-", "_")
        if name not in fields:
            raise ConfigError(f"overrides: {key!r} is not a setting; valid ones (dcgan train --help) are "
                              f"{', '.join(sorted(fields))}")
        extra[name] = value
    return Config.from_flat(recipe=recipe, **{**named, **extra})


def describe_config(config: Config, recipe: str = DEFAULT_RECIPE, width: int = 110) -> str:
    """Every setting in effect, section by section; those that differ from the recipe's are marked * (where
    the run lives and how it is watched, such as data_root and device, are not counted)."""
    baseline = Config.from_flat(recipe=recipe, device=config.train.device, condition=config.model.condition,
                                loss=config.objective.loss).to_dict()
    lines, differ, watching = [], [], with_role("watch")
    for section, values in config.to_dict().items():
        parts = []
        for key, value in values.items():
            shown = f"{value:g}" if isinstance(value, float) else repr(value) if isinstance(value, str) else str(value)
            if baseline[section][key] != value and key not in watching:
                differ.append(key)
                shown = f"*{key}={shown}"
            else:
                shown = f"{key}={shown}"
            parts.append(shown)
        lines += textwrap.wrap(f"{section}: " + " ".join(parts), width, subsequent_indent="    ")
    lines.append(f"* differs from the {recipe} recipe: " + (", ".join(differ) if differ else "nothing"))
    return "\n".join(lines)
