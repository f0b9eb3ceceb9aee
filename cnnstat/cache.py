"""cnnstat's user cache: ``$CNNSTAT_CACHE_DIR``, else ``$XDG_CACHE_HOME/cnnstat``, else
``~/.cache/cnnstat``.

Entries are JSON files named by a key that hashes everything their content depends on, so a stale
entry is never read: it is simply not found. Reading and writing never fail the command: an
unreadable, corrupt or unwritable cache is the same as no cache (``CNNSTAT_NO_CACHE=1`` turns it
off). Writes are atomic (a temporary file renamed into place).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

CACHE_ENV = "CNNSTAT_CACHE_DIR"
OFF_ENV = "CNNSTAT_NO_CACHE"


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "cnnstat"


def enabled() -> bool:
    return os.environ.get(OFF_ENV, "").strip().lower() in ("", "0", "false", "no")


def read(name: str) -> Any | None:
    """The JSON value stored under ``name``, or None (absent, unreadable, corrupt, disabled)."""
    if not enabled():
        return None
    try:
        with open(cache_dir() / name, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError, RecursionError):
        return None


def write(name: str, value: Any) -> None:
    """Store ``value`` as JSON under ``name``, if the cache directory can be written."""
    if not enabled():
        return
    folder = cache_dir()
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    try:
        text = json.dumps(value, separators=(",", ":"))
        folder.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, folder / name)
    except (OSError, ValueError, TypeError, RecursionError):
        try:
            tmp.unlink()
        except OSError:
            pass


def prune(prefix: str, keep: set[str], older_than_s: float = 7 * 86400) -> None:
    """Delete this prefix's entries that are not in ``keep`` and were written more than
    ``older_than_s`` ago (left by older files or versions; another installation sharing the cache
    keeps its recent entries)."""
    if not enabled():
        return
    import time
    limit = time.time() - older_than_s
    try:
        for path in cache_dir().glob(f"{prefix}*.json"):
            if path.name not in keep and path.stat().st_mtime < limit:
                path.unlink()
    except OSError:
        pass
