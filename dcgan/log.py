"""Messages for the person running dcgan, through the standard `dcgan` logger.

They show by default (INFO and up, on stderr, or stdout for INFO in a Jupyter kernel, written through tqdm
so an open progress bar stays whole).
Silence them with `logging.getLogger("dcgan").setLevel(logging.WARNING)`; send them elsewhere by giving
that logger handlers of your own (`logging.getLogger("dcgan").handlers = [handler]`)."""

from __future__ import annotations

import logging
import sys


LOGGER = "dcgan"


class TqdmHandler(logging.Handler):
    """A record as one line on the current sys.stderr (looked up at each message: notebooks and pytest
    swap it), through tqdm.write so a progress bar being drawn is not broken in two. In a Jupyter kernel,
    messages below WARNING go to stdout: JupyterLab paints stderr as an error, and a run's `done:` is none."""

    def emit(self, record: logging.LogRecord) -> None:
        from tqdm.auto import tqdm

        to_stdout = record.levelno < logging.WARNING and _in_kernel()
        try:
            tqdm.write(self.format(record), file=sys.stdout if to_stdout else sys.stderr)
        except Exception:  # a closed stream must not end a training run
            self.handleError(record)


def _in_kernel() -> bool:
    """Whether this runs in a Jupyter kernel (IPython's ZMQ shell), without importing IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def report(message: str) -> None:
    """A line meant for the person running this (a skip count, an upscale, a run set aside, a run's end):
    an INFO message of the `dcgan` logger. Not a Python warning, which shows its source line and which
    PYTHONWARNINGS=ignore (common in notebooks) would hide."""
    logger().info(message)


def logger() -> logging.Logger:
    """The `dcgan` logger, given its default handler the first time, unless someone gave it one before."""
    log = logging.getLogger(LOGGER)
    if not getattr(log, "_dcgan_ready", False):
        if not log.handlers:
            log.addHandler(TqdmHandler())
            log.propagate = False  # shown once, not again by a root handler a notebook may have
        if log.level == logging.NOTSET:
            log.setLevel(logging.INFO)
        log._dcgan_ready = True
    return log
