"""Optional dependencies: which extra of `pip install dcgan[...]` brings a module, and one message when missing."""

from __future__ import annotations

from importlib.util import find_spec


# pyproject.toml's extras, by the modules the package imports from each
EXTRAS = {
    "eval": ("torchmetrics", "torch_fidelity", "scipy"),
    "tensorboard": ("tensorboard",),
    "notebooks": ("IPython", "ipywidgets"),
    "sweep": ("optuna",),
}


class MissingExtra(ImportError):
    """A feature whose optional dependencies are not installed; the message says what to install."""


def require(extra: str, what: str) -> None:
    """Raise MissingExtra before `what` starts when the modules of `extra` are not installed."""
    missing = [m for m in EXTRAS[extra] if find_spec(m) is None]
    if missing:
        raise MissingExtra(f"{what} needs the '{extra}' extra ({', '.join(missing)} not installed): "
                           f"pip install 'dcgan[{extra}]', or in a checkout pip install -e '.[{extra}]'")
