"""Writing files: a write that fails for lack of space, a size limit or permissions becomes one message; the disk check."""

from __future__ import annotations

import errno
import os
import resource
import shutil
from contextlib import contextmanager
from pathlib import Path


EXIT_WRITE_FAILED = 3  # the CLI's exit code when a file could not be written (README, "When things go wrong")
# what only a write can fail with (EACCES and ENOENT can be reads too: the writers name those themselves)
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


class WriteFailed(RuntimeError):
    """A file could not be written; the message names it, the cause in words and what to do."""

    def _render_traceback_(self) -> list[str]:
        """What a notebook (IPython) shows instead of a traceback: the message, which says it all."""
        return [f"{type(self).__name__}: {self}"]


def _folder(path: Path) -> Path:
    """The nearest existing folder at or above path's parent (the one whose disk and permissions count)."""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


def cause_in_words(error: BaseException, path: Path, needed: int | None = None) -> str:
    """Why writing `path` failed, in a person's words. torch's zip writer reports a failed write as a
    RuntimeError without an errno, so then the disk and the file-size limit are looked at directly."""
    folder = _folder(path)
    code = getattr(error, "errno", None)
    if code is None:  # e.g. torch: "[enforce fail at inline_container.cc] . unexpected pos"
        free = shutil.disk_usage(folder).free if folder.exists() else None
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if needed is not None and free is not None and free < needed:
            code = errno.ENOSPC
        elif limit != resource.RLIM_INFINITY:
            code = errno.EFBIG
        elif free is not None and free < 64 * 2**20:
            code = errno.ENOSPC
    if code in (errno.ENOSPC, errno.EDQUOT):
        free = shutil.disk_usage(folder).free if folder.exists() else 0
        need = f", about {needed / 2**20:.1f} MiB were needed" if needed else ""
        return f"no space left on the device holding {folder} ({free / 2**20:.1f} MiB free{need})"
    if code == errno.EFBIG:
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        shown = f" of {limit / 2**20:.1f} MiB" if limit != resource.RLIM_INFINITY else ""
        return f"the file-size limit{shown} (ulimit -f) stopped the write"
    if code in (errno.EACCES, errno.EPERM):
        return f"no permission to write in {folder}"
    if code == errno.EROFS:
        return f"{folder} is on a read-only file system"
    if code == errno.ENOENT:
        gone = path.parent
        while not gone.parent.exists() and gone.parent != gone:  # the outermost folder that went
            gone = gone.parent
        return f"{gone} no longer exists (was it moved or deleted while the command was running?)"
    detail = getattr(error, "strerror", None) or str(error).splitlines()[0][:200]
    return f"the write failed ({detail})"


def failure(what: str, path: Path, error: BaseException, *, needed: int | None = None,
            run_dir: Path | None = None) -> WriteFailed:
    """The WriteFailed to raise for `error` while writing `path` (`what` names it for the person)."""
    path = Path(path)
    advice = "free some space or choose another folder (--out)"
    if run_dir is not None and getattr(error, "errno", None) == errno.ENOENT:
        advice = (f"the run's checkpoints went with the folder: put {run_dir} back and continue with: "
                  f"dcgan train --resume {run_dir}, or start the run again")
    elif run_dir is not None:
        advice = (f"free some space (a smaller --keep-last keeps fewer checkpoints) or fix the folder, then "
                  f"continue with: dcgan train --resume {run_dir}; the last complete checkpoint is kept")
    return WriteFailed(f"could not write {what} {path}: {cause_in_words(error, path, needed)}; {advice}")


def is_write_error(error: BaseException) -> bool:
    """OSErrors, and torch's RuntimeErrors from a zip writer whose file write failed."""
    if isinstance(error, OSError):
        return True
    text = str(error)
    return isinstance(error, RuntimeError) and ("inline_container" in text or "PytorchStreamWriter" in text
                                                or "unexpected pos" in text)


@contextmanager
def writing(what: str, path: os.PathLike | str, *, needed: int | None = None, run_dir: Path | None = None):
    """Run the body; a write error in it becomes WriteFailed naming `path`."""
    try:
        yield
    except WriteFailed:
        raise
    except (OSError, RuntimeError) as e:
        if not is_write_error(e):
            raise
        named = getattr(e, "filename", None)
        if named and ".tmp-" in Path(named).name:  # replacing()'s temporary file stands for `path`
            named = None
        raise failure(what, Path(named or path), e, needed=needed, run_dir=run_dir) from None


@contextmanager
def replacing(path: os.PathLike | str):
    """Yield a temporary path beside `path`; once the body has written it, it takes `path`'s name. A write
    that fails leaves `path` as it was (old or absent, never half-written) and no temporary file."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def checkpoint_bytes(models: list, copies_per_weight: int = 3) -> int:
    """About what one checkpoint takes: each weight, plus the optimiser's two moments."""
    return sum(p.numel() * p.element_size() * copies_per_weight for m in models for p in m.parameters())


def check_output_folder(folder: Path, need: int) -> None:
    """Before any training: the run folder takes writes, and has room for two checkpoints (the new
    one is written before the previous one is let go)."""
    probe = folder / f".write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as e:  # a read-only folder or file system: exit code 3, like every failed write
        raise WriteFailed(f"cannot write to the run folder {folder}: {cause_in_words(e, probe)}; choose another "
                          "--out or fix its permissions") from None
    free = shutil.disk_usage(folder).free
    want = 2 * need + 16 * 2**20
    if free < want:
        raise WriteFailed(f"the disk holding {folder} has {free / 2**20:.1f} MiB free, but a checkpoint needs "
                          f"about {need / 2**20:.1f} MiB and two must fit at once ({want / 2**20:.1f} MiB); "
                          "free some space or choose another --out")
