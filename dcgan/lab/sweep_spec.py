"""A sweep's spec: the search space over training settings (by their CLI names), sampler, budget; checked up front."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..settings.config import Config, flat_fields
from ..settings.errors import ConfigError
from ..settings.recipes import DEFAULT_RECIPE

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("none", "median", "halving")
FEATURES = ("classifier", "inception")


@dataclass
class SweepSpec:
    """What a sweep searches and for how long.

    `space` maps a setting (its CLI name, "ema-decay", or its Python one; `recipe` too) to a list of values
    (choices; the grid's points) or a range {"low": a, "high": b, "log": true}; whole-number bounds on a
    whole-number setting give whole numbers. `settings` fixes other settings for every trial. `trials` counts
    trials started (a failed one's retry counts once); `minutes` (0: none) stops starting new ones after that
    long. The objective is the trial's FID in the `features` space on `eval_n` samples (classifier: the
    domain classifier's, offline; inception: the standard FID's, where its weights can be had)."""

    space: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    sampler: str = "tpe"
    trials: int = 8
    minutes: float = 0.0
    pruner: str = "none"
    features: str = "classifier"
    eval_n: int = 2000
    seed: int = 0  # the sampler's
    study: str = ""  # empty: the sweep folder's name

    def __post_init__(self):
        _check(self.sampler in SAMPLERS, f"sampler {self.sampler!r} is not known; choose one of {', '.join(SAMPLERS)}")
        _check(self.pruner in PRUNERS, f"pruner {self.pruner!r} is not known; choose one of {', '.join(PRUNERS)}")
        _check(self.features in FEATURES,
               f"features {self.features!r} is not known; choose one of {', '.join(FEATURES)}")
        _check(isinstance(self.trials, int) and self.trials >= 1, f"trials must be a positive integer, got "
                                                                  f"{self.trials!r}")
        _check(isinstance(self.minutes, (int, float)) and self.minutes >= 0, f"minutes must be >= 0 (0: no time "
                                                                             f"budget), got {self.minutes!r}")
        _check(isinstance(self.eval_n, int) and self.eval_n >= 10, f"eval_n must be at least 10, got {self.eval_n!r}")
        _check(isinstance(self.space, dict) and self.space, "space is empty: name at least one setting to search, "
                                                            "e.g. {\"lr\": {\"low\": 1e-4, \"high\": 1e-3, \"log\": true}}")
        self.settings = {_name(k, "settings", searched=False): v for k, v in (self.settings or {}).items()}
        self.space = {_name(k, "space", searched=True): v for k, v in self.space.items()}
        both = sorted(set(self.settings) & set(self.space))
        _check(not both, f"{', '.join(both)} is both searched (space) and fixed (settings): keep one")
        _check("out" not in self.settings, "settings: out is each trial's own folder, under the sweep's; leave it out")
        base = _config(self.settings, "settings")
        _check(self.pruner == "none" or base.train.eval_every > 0,
               f"pruner {self.pruner}: trials report their FID every --eval-every iterations; set settings' "
               "eval_every (e.g. 200), or pruner none")
        for name, entry in self.space.items():
            for value in self.corners(name, entry):
                _config({**self.settings, name: value}, f"space entry {name!r}, value {value!r}")
        _check(self.sampler != "grid" or all(isinstance(e, list) for e in self.space.values()),
               "sampler grid needs a list of values for every entry of space; "
               f"{', '.join(k for k, e in self.space.items() if not isinstance(e, list))} is a range")

    def corners(self, name: str, entry: Any) -> list:
        """The values of an entry to check before any trial: every value of a list, both ends of a range."""
        where = f"space entry {name!r}"
        if isinstance(entry, list):
            _check(entry != [], f"{where} is an empty list: give the values to try")
            return list(entry)
        _check(isinstance(entry, dict), f"{where}: give a list of values or a range {{low, high[, log]}}, "
                                        f"got {entry!r}")
        unknown = sorted(set(entry) - {"low", "high", "log"})
        _check(not unknown, f"{where}: unknown keys {unknown}; a range has low, high and log")
        low, high = entry.get("low"), entry.get("high")
        _check(all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)),
               f"{where}: a range needs numbers low and high, got {low!r} and {high!r}")
        _check(low < high, f"{where} is an empty range: low ({low}) must be below high ({high})")
        _check(not entry.get("log") or low > 0, f"{where}: a log range needs low > 0, got {low}")
        _check(name != "recipe", f"{where}: a recipe is a name: give a list of recipes")
        return [low, high]

    def grid(self) -> dict[str, list]:
        return {name: list(values) for name, values in self.space.items()}

    def grid_size(self) -> int:
        size = 1
        for values in self.space.values():
            size *= len(values)
        return size

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def read_spec(source: str | Path | dict) -> SweepSpec:
    """A SweepSpec from a YAML or JSON file, or a dict (a notebook's cell); one message naming what is wrong."""
    if isinstance(source, dict):
        data, where = source, "the spec"
    else:
        path = Path(source)
        _check(path.is_file(), f"{path}: no such spec file; write one (docs/sweeps.md has an example)")
        text = path.read_text()
        try:
            if path.suffix in (".yaml", ".yml"):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except Exception as e:  # a YAML or JSON syntax error: its own message names the line
            raise ConfigError(f"{path} is not valid {'YAML' if path.suffix in ('.yaml', '.yml') else 'JSON'}: "
                              f"{str(e).splitlines()[0]}") from None
        where = str(path)
    _check(isinstance(data, dict), f"{where}: a spec is a mapping (space, settings, sampler, trials, ...)")
    valid = [f.name for f in dataclasses.fields(SweepSpec)]
    unknown = sorted(set(data) - set(valid))
    _check(not unknown, f"{where}: unknown keys {unknown}; a spec has {', '.join(valid)}")
    _check("space" in data, f"{where}: no space: name the settings to search")
    try:
        return SweepSpec(**data)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def trial_settings(spec: SweepSpec, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(recipe, flat settings) of a trial: the spec's fixed settings and the trial's values."""
    flat = {**spec.settings, **params}
    return flat.pop("recipe", DEFAULT_RECIPE), flat


def train_command(recipe: str, flat: dict[str, Any]) -> str:
    """The `dcgan train` command that trains these settings."""
    def value(v):
        return f"{v:g}" if isinstance(v, float) else str(v)

    parts = ["dcgan train", f"--recipe {recipe}"]
    for k, v in flat.items():
        name = "--" + k.replace("_", "-")
        parts.append((name if v else f"--no-{name[2:]}") if isinstance(v, bool) else f"{name} {value(v)}")
    return " ".join(parts)


def _name(key: str, where: str, searched: bool) -> str:
    name = str(key).lstrip("-").replace("-", "_")
    fields = flat_fields()
    _check(name == "recipe" or name in fields,
           f"{where}: {key!r} is not a setting; valid ones (dcgan train --help) are recipe, {', '.join(sorted(fields))}")
    _check(not searched or name == "recipe" or fields[name].metadata["role"] != "watch",
           f"{where}: {key!r} says where a run lives or how it is watched, not what it trains: fix it in settings")
    return name


def _config(flat: dict[str, Any], where: str) -> Config:
    flat = dict(flat)
    recipe = flat.pop("recipe", DEFAULT_RECIPE)
    try:
        return Config.from_flat(recipe=recipe, **flat)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e}") from None


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ConfigError(message)
