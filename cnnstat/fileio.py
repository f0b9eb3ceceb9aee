"""Atomic file output: a report file is either complete or absent, never half-written."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UsageError


def _usual_mode(fd: int) -> None:
    """mkstemp creates files readable by their owner only; give them the mode a plain open()
    would (0666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.fchmod(fd, 0o666 & ~umask)
    except OSError:
        pass


def atomic_write(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write to a temporary file in the same directory, then rename it over ``path``.
    An error or Ctrl-C before the rename leaves any previous file untouched."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create directory '{target.parent}': {exc.strerror}") from None
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"cannot write to '{target.parent}': {exc.strerror}") from None
    _usual_mode(fd)
    try:
        with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return target


def atomic_write_many(files: "dict[str | os.PathLike, str | bytes]") -> list[Path]:
    """Write several files as one step: every file goes to a temporary file next to its target
    first; only when all are written are they renamed over their targets, with Ctrl-C held back
    until the renames are done. An error or Ctrl-C while writing leaves every target untouched."""
    import signal
    import threading

    staged: list[tuple[str, Path]] = []
    try:
        for path, data in files.items():
            target = Path(path)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp",
                                           dir=target.parent)
            except OSError as exc:
                raise UsageError(f"cannot write to '{target.parent}': {exc.strerror}") from None
            staged.append((tmp, target))
            _usual_mode(fd)
            mode = "wb" if isinstance(data, bytes) else "w"
            try:
                with os.fdopen(fd, mode, **({} if mode == "wb" else {"encoding": "utf-8"})) as f:
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
            except OSError as exc:
                raise UsageError(f"cannot write '{target}': {exc.strerror}") from None
    except BaseException:
        for tmp, _ in staged:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        raise

    interrupted: list[int] = []
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(1)) if main else None
    done = 0
    try:
        for tmp, target in staged:
            os.replace(tmp, target)
            done += 1
    finally:
        for tmp, _ in staged[done:]:
            try:
                os.unlink(tmp)
            except OSError:
                pass
        if main:
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
    if interrupted:
        raise KeyboardInterrupt
    return [target for _, target in staged]
