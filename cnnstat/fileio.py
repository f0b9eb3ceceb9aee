"""Files in and out, safely.

In: :func:`read_input` reads a model file (a definition, a prototxt) only if it is a regular file
of at most the ``file_mb`` limit (cnnstat.limits): a FIFO, a device or a folder named as a
definition is refused before it is opened for reading, so nothing can block or stream for ever.

Out: a report file is either complete or absent, never half-written, and only regular files are
ever written:

- :func:`atomic_write` (``--out FILE``): the target must be a regular file or a new name (a
  directory, a FIFO, a character device such as /dev/null, a socket is refused: writing would
  replace it with a regular file); the data goes to a temporary file next to it (a short name,
  ``.cnnstat-XXXXXXXX.tmp``, so a 255-byte target name still fits), then is renamed over it. An
  existing file keeps its permission bits. Missing parent folders are created, and removed
  again if the write fails.
- :func:`write_tree` (``report --out DIR``, ``bench --out DIR``): several files under one folder
  as one step. Every target is checked first; all files are written into a temporary folder
  inside the output folder, then moved into place, with Ctrl-C held back; if anything fails on
  the way (a full disk, a target that turned into a folder), the files already moved are taken
  back and the previous ones restored. Nothing half-written is ever left.

Every OSError becomes a one-line UsageError that names the file and the reason.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import DefinitionError, UsageError

TEMP_PREFIX = ".cnnstat-"


# -- what a path is ------------------------------------------------------------------------------
def kind_of(mode: int) -> str:
    """'a regular file', 'a directory', 'a FIFO (named pipe)', 'a character device' ..."""
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a directory"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _show(path: str | os.PathLike) -> str:
    from .render.escape import error_line
    return error_line(os.fspath(path), 300)


# -- in ------------------------------------------------------------------------------------------
def check_input(path: str | os.PathLike, what: str = "the definition") -> os.stat_result:
    """The file's stat, if ``path`` is a regular file; else one-line error (nothing opened)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise DefinitionError(f"cannot read {what}: {exc.strerror or exc}", file=os.fspath(path)) \
            from None
    if not stat.S_ISREG(st.st_mode):
        raise DefinitionError(f"cannot read {what}: it is {kind_of(st.st_mode)}, not a regular "
                              "file", file=os.fspath(path))
    return st


def read_input(path: str | os.PathLike, what: str = "the definition") -> bytes:
    """The bytes of a model file: a regular file within the ``file_mb`` limit. Opened without
    blocking and checked again once open (the path cannot be swapped for a FIFO in between)."""
    from . import limits
    st = check_input(path, what)
    limit_mb = limits.value("file_mb")
    limit = int(limit_mb * 1024 * 1024)
    if st.st_size > limit:
        raise limits.exceeded("file_mb", f"the file is {st.st_size / 1e6:,.1f} MB; cnnstat reads "
                              f"files up to {limit_mb:g} MB", file=os.fspath(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise DefinitionError(f"cannot read {what}: {exc.strerror or exc}", file=os.fspath(path)) \
            from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DefinitionError(f"cannot read {what}: it is not a regular file",
                                  file=os.fspath(path))
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise DefinitionError(f"cannot read {what}: {exc.strerror or exc}", file=os.fspath(path)) \
            from None
    finally:
        os.close(fd)
    if size > limit:
        raise limits.exceeded("file_mb", f"the file is over {limit_mb:g} MB", file=os.fspath(path))
    return b"".join(chunks)


# -- out -----------------------------------------------------------------------------------------
def check_output(path: str | os.PathLike, what: str = "--out") -> Path:
    """Where an output file may be written: ``path`` if it is a regular file or does not exist
    (a symbolic link to a regular file: the file it points to). Anything else is refused
    before a byte is written."""
    target = Path(path)
    if not os.fspath(target) or target.name in ("", ".", ".."):
        raise UsageError(f"{what} '{_show(path)}' is not a file name")
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        if os.path.islink(target):
            raise UsageError(f"{what} '{_show(path)}' is a broken symbolic link: nothing written") \
                from None
        return target                 # a new name (a file in the way is found on creating folders)
    except OSError as exc:
        raise UsageError(f"{what} '{_show(path)}': {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"{what} '{_show(path)}' is {kind_of(st.st_mode)}: cnnstat writes only "
                         "regular files (or new ones); nothing written")
    return Path(os.path.realpath(target)) if os.path.islink(target) else target


def _make_folders(folder: Path, created: list[Path], what: str) -> None:
    """Create ``folder`` and its missing parents, appending each one created to ``created``."""
    missing = []
    p = folder
    while not p.exists():
        if os.path.islink(p):
            raise UsageError(f"{what}: '{_show(p)}' is a broken symbolic link")
        missing.append(p)
        if p.parent == p:
            break
        p = p.parent
    if p.exists() and not p.is_dir():
        raise UsageError(f"{what}: cannot create directory '{_show(folder)}': "
                         f"'{_show(p)}' is {kind_of(os.stat(p).st_mode)}, not a folder")
    for q in reversed(missing):
        try:
            q.mkdir()
        except FileExistsError:
            if not q.is_dir():
                raise UsageError(f"{what}: cannot create directory '{_show(q)}': a file is in "
                                 "the way") from None
            continue
        except OSError as exc:
            raise UsageError(f"{what}: cannot create directory '{_show(q)}': {exc.strerror}") \
                from None
        created.append(q)


def _remove_folders(created: list[Path]) -> None:
    for q in reversed(created):
        with contextlib.suppress(OSError):
            q.rmdir()


def _usual_mode(fd: int, like: Path | None = None) -> None:
    """mkstemp creates files readable by their owner only: give the file the mode of the file it
    replaces, or the mode a plain open() would (0666 less the umask)."""
    try:
        if like is not None and like.exists():
            os.fchmod(fd, stat.S_IMODE(os.stat(like).st_mode))
            return
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)
    except OSError:
        pass


def _write_fd(fd: int, data: str | bytes) -> None:
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())


def atomic_write(path: str | os.PathLike, data: str | bytes, *, what: str = "--out") -> Path:
    """Write ``data`` to ``path`` (a regular file or a new name) through a temporary file renamed
    over it. An error or Ctrl-C before the rename leaves any previous file untouched, and no
    temporary file or new folder behind."""
    target = check_output(path, what)
    created: list[Path] = []
    _make_folders(target.parent, created, what)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=".tmp", dir=target.parent)
        _usual_mode(fd, target)
        _write_fd(fd, data)
        if target.exists() and not target.is_file():     # turned into something else meanwhile
            raise UsageError(f"{what} '{_show(path)}' is no longer a regular file: nothing written")
        os.replace(tmp, target)
        tmp = None
    except OSError as exc:
        raise UsageError(f"cannot write '{_show(path)}': {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            _remove_folders(created)
    return target


@contextlib.contextmanager
def _ctrl_c_held() -> Iterator[list[int]]:
    """Defer SIGINT (Ctrl-C) for the block; re-raise it as KeyboardInterrupt after."""
    import signal
    import threading
    interrupted: list[int] = []
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.append(1)) if main else None
    try:
        yield interrupted
    finally:
        if main:
            signal.signal(signal.SIGINT, signal.SIG_DFL if previous is None else previous)
    if interrupted:
        raise KeyboardInterrupt


def _relative(rel: str | os.PathLike) -> Path:
    p = Path(rel)
    if p.is_absolute() or not p.parts or ".." in p.parts:
        raise ValueError(f"not a path inside the output folder: {rel}")
    return p


def write_tree(root: str | os.PathLike, files: "dict[str | os.PathLike, str | bytes]", *,
               what: str = "--out") -> list[Path]:
    """Write ``files`` (paths relative to ``root``) as one step; see the module docstring.
    Returns the written paths."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UsageError(f"{what} '{_show(root)}' is {kind_of(os.stat(root).st_mode)}, not a folder")
    plan = [(_relative(rel), data) for rel, data in files.items()]
    for rel, _ in plan:                               # every target checked before writing
        for k in range(1, len(rel.parts)):
            folder = root.joinpath(*rel.parts[:k])
            if folder.exists() and not folder.is_dir():
                raise UsageError(f"{what}: '{_show(folder)}' is "
                                 f"{kind_of(os.stat(folder).st_mode)}, not a folder: nothing written")
        check_output(root / rel, what)
    created: list[Path] = []
    _make_folders(root, created, what)
    staging: Path | None = None
    placed: list[tuple[Path, Path | None]] = []       # (target, backup of the previous file)
    done = False
    try:
        try:
            staging = Path(tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=root))
            for i, (rel, data) in enumerate(plan):
                fd = os.open(staging / f"{i}.new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                _usual_mode(fd, root / rel)
                _write_fd(fd, data)
            with _ctrl_c_held():
                for i, (rel, _) in enumerate(plan):
                    target = root / rel
                    _make_folders(target.parent, created, what)
                    backup = None
                    if target.exists():
                        if not target.is_file():
                            raise UsageError(f"{what}: '{_show(target)}' is no longer a regular "
                                             "file: nothing written")
                        backup = staging / f"{i}.old"
                        os.replace(target, backup)
                    placed.append((target, backup))
                    os.replace(staging / f"{i}.new", target)
                done = True
        except OSError as exc:
            where = getattr(exc, "filename", None)
            reason = exc.strerror or str(exc)
            raise UsageError(f"cannot write the files under '{_show(root)}'"
                             + (f" ('{_show(where)}')" if where and staging is None else "")
                             + f": {reason}; nothing written") from None
    except BaseException:
        if not done:                       # (a Ctrl-C held until every file was in place: kept)
            _take_back(placed)
        raise
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if not done:
            _remove_folders(created)
    return [root / rel for rel, _ in plan]


def _take_back(placed: list[tuple[Path, Path | None]]) -> None:
    """Undo a commit: remove the files moved into place, restore the previous ones."""
    for target, backup in reversed(placed):
        with contextlib.suppress(OSError):
            if target.is_file():
                os.unlink(target)
        if backup is not None:
            with contextlib.suppress(OSError):
                os.replace(backup, target)


def atomic_write_many(files: "dict[str | os.PathLike, str | bytes]") -> list[Path]:
    """Several files, anywhere under one common folder, written as one step (write_tree)."""
    paths = [Path(p) for p in files]
    if not paths:
        return []
    root = Path(os.path.commonpath([p.parent for p in paths]))
    return write_tree(root, {p.relative_to(root): data for p, data in zip(paths, files.values())})


__all__ = ["read_input", "check_input", "check_output", "atomic_write", "write_tree",
           "atomic_write_many", "kind_of"]
