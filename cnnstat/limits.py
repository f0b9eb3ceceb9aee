"""The limits on the work one command does with an input it did not write.

A definition, a prototxt or an ONNX file from a stranger must not hang cnnstat or exhaust the
machine: every unbounded quantity has a limit, generous for any real network, and going over
one is an ``error:`` line that names the limit and how to raise it (docs/limits.md). A limit is
raised with its environment variable (``CNNSTAT_MAX_LAYERS=1000000 cnnstat params big.yaml``),
or from Python with :func:`override`; the time limit also with ``--timeout``.

Nothing here imports anything heavy.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

from .errors import DefinitionError, UsageError


@dataclass(frozen=True)
class Limit:
    key: str
    env: str
    default: float
    what: str               # "{n} layers per model"
    option: str = ""        # a command-line option that also sets it


LIMITS: dict[str, Limit] = {limit.key: limit for limit in (
    Limit("file_mb", "CNNSTAT_MAX_FILE_MB", 4, "{n} MB per definition or prototxt file"),
    Limit("layers", "CNNSTAT_MAX_LAYERS", 100_000, "{n} layers per model"),
    Limit("values", "CNNSTAT_MAX_VALUES", 1_000_000,
          "{n} values per definition, YAML aliases expanded"),
    Limit("expr_steps", "CNNSTAT_MAX_EXPR_STEPS", 5_000_000, "{n} expression steps per model"),
    Limit("value_size", "CNNSTAT_MAX_VALUE_SIZE", 1_000_000,
          "{n} elements per expression value, nested lists counted in full"),
    Limit("depth", "CNNSTAT_MAX_DEPTH", 64,
          "nesting {n} deep (definition blocks, prototxt messages, PyTorch modules)"),
    Limit("sweep", "CNNSTAT_MAX_SWEEP", 1_000, "{n} combinations per sweep"),
    Limit("timeout", "CNNSTAT_TIMEOUT", 300, "{n} s of running a model's Python code and "
          "forward passes", "--timeout SECONDS"),
)}

#: the largest size of one input axis (``--input``, a definition's ``input``, an imported
#: model's input): a sanity bound on what is a real input, not a setting
MAX_INPUT_SIZE = 1_000_000

_overrides: dict[str, float] = {}


class LimitError(DefinitionError):
    """A limit of cnnstat.limits was reached (the message names it and how to raise it). A
    DefinitionError: the input asks for more work than cnnstat will do without being told."""


def value(key: str) -> float:
    """The limit's value now: an override (:func:`override`, ``--timeout``), else its environment
    variable, else the default."""
    if key in _overrides:
        return _overrides[key]
    limit = LIMITS[key]
    raw = os.environ.get(limit.env)
    if raw is None or not raw.strip():
        return limit.default
    try:
        number = float(raw.replace("_", "").replace(",", ""))
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise UsageError(f"{limit.env}={raw!r}: the limit must be a positive number")
    return int(number) if number.is_integer() else number


def int_value(key: str) -> int:
    return int(value(key))


def how_to_raise(key: str) -> str:
    """'limit: 100,000 layers per model; raise it with the environment variable ...'."""
    limit = LIMITS[key]
    current = value(key)
    shown = f"{current:,}" if isinstance(current, int) else f"{current:g}"
    ways = (f"{limit.option} or {limit.env}" if limit.option
            else f"the environment variable {limit.env}")
    return f"limit: {limit.what.format(n=shown)}; raise it with {ways}"


def exceeded(key: str, message: str, **location) -> LimitError:
    """The error for going over limit ``key``: ``message (limit: ...; raise it with ...)``."""
    return LimitError(f"{message} ({how_to_raise(key)})", **location)


@contextlib.contextmanager
def override(**values: float) -> Iterator[None]:
    """Set limits for a block: ``with limits.override(layers=10**6): analyze(...)``."""
    for key in values:
        if key not in LIMITS:
            raise KeyError(f"no limit '{key}' (limits: {', '.join(LIMITS)})")
    previous = dict(_overrides)
    _overrides.update({k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        _overrides.clear()
        _overrides.update(previous)


def overrides() -> dict[str, float]:
    """The limits set in this process (by :func:`override` or the CLI), to pass on to a child."""
    return dict(_overrides)


def set_value(key: str, number: float | None) -> None:
    """Set a limit for the rest of the process (the CLI's --timeout); None restores it."""
    if key not in LIMITS:
        raise KeyError(key)
    if number is None:
        _overrides.pop(key, None)
    else:
        _overrides[key] = number


def active_timeout() -> float | None:
    """The wall-clock limit in force: set by the CLI (--timeout, CNNSTAT_TIMEOUT, default) or by
    :func:`override`; None in the API by default (nothing is on the clock)."""
    return _overrides.get("timeout")


# -- user code: contained, and on the clock -----------------------------------------------------
#: run a Python model's code (import, build, trace) in a child process: set by the CLI. The API
#: runs it in the calling process (the user's own code, in the user's own process).
_contain = {"user_code": False}


def contain_user_code() -> bool:
    return _contain["user_code"]


def set_contain_user_code(on: bool) -> None:
    _contain["user_code"] = bool(on)


GRACE_S = 5.0            # after the deadline, how long a stuck C++ operator gets to return
_active: list[str] = []


@contextlib.contextmanager
def deadline(what: str, seconds: float | None = None) -> Iterator[None]:
    """A wall-clock limit on work that runs a model's code or forward passes (a forward of a huge
    model, an operator that never returns). When the time is up, a LimitError is raised in the
    main thread (SIGALRM): the command prints one ``error:`` line naming the work and the limit,
    and exits with status 2 — or, for cnnstat bench, the row is marked failed and the next one
    runs. A C++ operator cannot be interrupted: if the main thread has not come back
    ``GRACE_S`` seconds later, a watchdog thread prints the line and ends the process.

    Only the CLI arms it by default (``--timeout`` sets the ``timeout`` limit for the command);
    in the API a block runs as long as it takes unless ``seconds`` is given. Deadlines do not
    nest: inside one, another is the same one."""
    import signal
    import threading
    seconds = seconds if seconds is not None else active_timeout()
    main = threading.current_thread() is threading.main_thread()
    if seconds is None or _active or not main or not hasattr(signal, "setitimer"):
        yield
        return

    def alarm(signum, frame):
        raise exceeded("timeout", f"{what} took longer than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))
    watchdog = threading.Timer(float(seconds) + GRACE_S, _expire, args=(what, seconds))
    watchdog.daemon = True
    watchdog.start()
    _active.append(what)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        watchdog.cancel()
        _active.pop()


def _expire(what: str, seconds: float) -> None:
    import sys
    error = exceeded("timeout", f"{what} took longer than {seconds:g} s (stuck in an operator; "
                     "the process is ended)")
    try:
        sys.stderr.write(f"error: {error}\n")
        sys.stderr.flush()
    finally:
        os._exit(2)
