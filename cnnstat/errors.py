"""Errors a user can act on.

Every problem with a definition, a model name or a command-line argument is raised as a
:class:`CnnstatError`. It renders as one line::

    FILE:LINE: layer NAME: what is wrong

with as many of the three location parts as are known. The CLI prints it after ``error: `` and
exits with status 2; nothing else in cnnstat prints tracebacks for user mistakes. The line is
made safe by cnnstat.render.escape.error_line: always one line, control characters (a terminal
escape sequence in a layer name) shown as visible escapes, a long message elided.
"""

from __future__ import annotations


class CnnstatError(Exception):
    """A user-facing error with an optional location (file, line, layer)."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 layer: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.layer = layer

    def located(self, *, file: str | None = None, line: int | None = None,
                layer: str | None = None) -> "CnnstatError":
        """Fill in location parts that are not known yet (the innermost location wins)."""
        if self.file is None and file is not None:
            self.file = file
        if self.line is None and line is not None:
            self.line = line
        if self.layer is None and layer is not None:
            self.layer = layer
        return self

    def __str__(self) -> str:
        from .render.escape import error_line
        parts = []
        if self.file:
            parts.append(f"{error_line(self.file, 300)}:{self.line}" if self.line
                         else error_line(self.file, 300))
        elif self.line:
            parts.append(f"line {self.line}")
        if self.layer:
            parts.append(f"layer {error_line(self.layer, 200)}")
        parts.append(error_line(self.message))  # always exactly one line
        return ": ".join(parts)


class DefinitionError(CnnstatError):
    """The definition file (or imported model) is malformed."""


class ShapeError(CnnstatError):
    """A layer cannot be applied to the shape it receives (too small input, mismatched merge...)."""


class UsageError(CnnstatError):
    """A bad command-line argument or API argument."""


class InternalError(CnnstatError):
    """A bug in cnnstat, not in the user's input: an operator rule raised an exception it should
    not (a KeyError, a TypeError...). One line like every error, with the exception and a
    request to report it; never dressed up as the user's ShapeError."""

    @classmethod
    def in_rule(cls, op: str, layer: str | None, exc: BaseException, *,
                file: str | None = None, line: int | None = None) -> "InternalError":
        where = f" at layer {layer}" if layer else ""
        return cls(f"internal error in rule {op}{where}: {type(exc).__name__}: {exc} — this is a "
                   "cnnstat bug, please report it with the definition", file=file, line=line)


class FixedSizeError(ShapeError):
    """A layer whose size is fixed by its weights (``linear(..., in_features=N)``) receives
    another size. ``need`` and ``got`` are the feature counts. cnnstat.analyze turns it into an
    :class:`InputSizeError` that names the input sizes the network accepts."""

    def __init__(self, message: str, *, need: int, got: int, **location):
        super().__init__(message, **location)
        self.need = need
        self.got = got


class InputSizeError(ShapeError):
    """An input size the network does not accept. ``sizes``: the accepted input heights and
    widths as ((first, last), (first, last)), when they could be found."""

    def __init__(self, message: str, *, sizes=None, **location):
        super().__init__(message, **location)
        self.sizes = sizes
