"""A reader for the protocol buffers text format (the format of Caffe's .prototxt files), without
the schema: every message becomes a :class:`Message` whose fields keep their order, repetition
and source line.

The grammar (protobuf's text format, as TextFormat::Parser reads it):

    message := field*
    field   := name ':' value            scalar field: number, identifier (enum, true/false),
             | name ':'? '{' message '}'  or one or more adjacent quoted strings;
             | name ':'? '<' message '>'  a nested message (with or without the colon);
             | name ':' '[' values ']'    a repeated field written as a list
    separators ';' and ',' after a field are optional; '#' starts a comment to the end of line.

Numbers are ints (decimal, 0x hex) or floats (1e-4, .5, 5., 1.5f, inf, nan); strings take C
escapes. Errors name the file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..errors import DefinitionError

_TOKEN = re.compile(r"""
    (?P<space>[ \t\r\f\v]+) | (?P<newline>\n) | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>[-+]?(?:0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?[fF]?)(?![A-Za-z_]))
  | (?P<ident>[-+]?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<punct>[{}<>:\[\],;])
""", re.VERBOSE)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "a": "\a",
            "b": "\b", "f": "\f", "v": "\v", "?": "?"}


@dataclass
class Message:
    """Fields in order: name -> list of (value, line). Values are int, float, str, bool-like
    identifiers (as str) or nested Messages."""
    line: int = 1
    fields: dict[str, list[tuple[Any, int]]] = field(default_factory=dict)

    def add(self, name: str, value: Any, line: int) -> None:
        self.fields.setdefault(name, []).append((value, line))

    def has(self, name: str) -> bool:
        return name in self.fields

    def get(self, name: str, default: Any = None) -> Any:
        """The last value of a field (protobuf's rule for a non-repeated field set twice)."""
        values = self.fields.get(name)
        return values[-1][0] if values else default

    def all(self, name: str) -> list[Any]:
        return [v for v, _ in self.fields.get(name, [])]

    def line_of(self, name: str) -> int:
        values = self.fields.get(name)
        return values[0][1] if values else self.line

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        for name, values in self.fields.items():
            for value, _ in values:
                yield name, value


class _Tokens:
    def __init__(self, text: str, file: str | None):
        self.file = file
        self.items: list[tuple[str, str, int]] = []
        line, pos = 1, 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None:
                raise DefinitionError(f"unexpected character {text[pos]!r}", file=file, line=line)
            kind = m.lastgroup
            if kind == "newline":
                line += 1
            elif kind not in ("space", "comment"):
                self.items.append((kind, m.group(), line))
            pos = m.end()
        self.i = 0
        self.max_depth = 64

    def peek(self) -> tuple[str, str, int] | None:
        return self.items[self.i] if self.i < len(self.items) else None

    def next(self, what: str) -> tuple[str, str, int]:
        tok = self.peek()
        if tok is None:
            last = self.items[-1][2] if self.items else 1
            raise DefinitionError(f"the file ends where {what} was expected", file=self.file,
                                  line=last)
        self.i += 1
        return tok

    def error(self, message: str, line: int) -> DefinitionError:
        return DefinitionError(message, file=self.file, line=line)


def parse(text: str, file: str | None = None) -> Message:
    """Parse a whole text-format message. Messages nest at most the ``depth`` limit deep
    (cnnstat.limits): 100,000 nested braces are one error line, not a RecursionError."""
    from .. import limits
    tokens = _Tokens(text, file)
    tokens.max_depth = limits.int_value("depth")
    msg = _message(tokens, None, 1)
    return msg


def _message(t: _Tokens, close: str | None, line: int, depth: int = 0) -> Message:
    if depth > t.max_depth:
        from .. import limits
        raise limits.exceeded("depth", f"messages are nested more than {t.max_depth} deep",
                              file=t.file, line=line)
    msg = Message(line)
    while True:
        tok = t.peek()
        if tok is None:
            if close is not None:
                raise t.error(f"'{close}' missing: the message opened here is not closed", line)
            return msg
        kind, value, tline = tok
        if kind == "punct" and value == close:
            t.i += 1
            return msg
        if kind == "punct" and value == "[":             # [extension.name]
            t.i += 1
            name = t.next("an extension name")[1]
            end = t.next("']'")
            if end[1] != "]":
                raise t.error(f"expected ']' after [{name}", end[2])
            name = f"[{name}]"
        elif kind == "ident":
            t.i += 1
            name = value
        else:
            raise t.error(f"expected a field name, got {value!r}", tline)
        _field(t, msg, name, tline, depth)
        sep = t.peek()
        if sep is not None and sep[0] == "punct" and sep[1] in ";,":
            t.i += 1


def _field(t: _Tokens, msg: Message, name: str, line: int, depth: int = 0) -> None:
    tok = t.next(f"a value for '{name}'")
    colon = tok[0] == "punct" and tok[1] == ":"
    if colon:
        tok = t.next(f"a value for '{name}'")
    kind, value, vline = tok
    if kind == "punct" and value in "{<":
        msg.add(name, _message(t, "}" if value == "{" else ">", vline, depth + 1), line)
        return
    if not colon:
        raise t.error(f"expected ':' or '{{' after '{name}', got {value!r}", vline)
    if kind == "punct" and value == "[":
        first = True
        while True:
            tok = t.next(f"a value in the list of '{name}'")
            if tok[0] == "punct" and tok[1] == "]":
                return
            if not first:
                if tok[1] != ",":
                    raise t.error(f"expected ',' or ']' in the list of '{name}'", tok[2])
                tok = t.next(f"a value in the list of '{name}'")
            first = False
            if tok[0] == "punct" and tok[1] in "{<":
                msg.add(name, _message(t, "}" if tok[1] == "{" else ">", tok[2], depth + 1), tok[2])
            else:
                msg.add(name, _scalar(t, tok), tok[2])
    msg.add(name, _scalar(t, tok), line)


def _scalar(t: _Tokens, tok: tuple[str, str, int]) -> Any:
    kind, value, line = tok
    if kind == "string":
        text = _unquote(t, value, line)
        while True:                                     # adjacent strings concatenate
            nxt = t.peek()
            if nxt is None or nxt[0] != "string":
                return text
            t.i += 1
            text += _unquote(t, nxt[1], nxt[2])
    if kind == "number":
        return _number(value)
    if kind == "ident":
        low = value.lower().lstrip("+")
        if low in ("inf", "infinity", "-inf", "-infinity", "nan", "-nan"):
            return float(low.replace("infinity", "inf"))
        return value
    raise t.error(f"expected a value, got {value!r}", line)


def _number(text: str) -> int | float:
    body = text.rstrip("fF") if not text.lower().startswith(("0x", "-0x", "+0x")) else text
    if re.fullmatch(r"[-+]?0[xX][0-9a-fA-F]+", body):
        return int(body, 16)
    if re.fullmatch(r"[-+]?\d+", body):
        return int(body)
    return float(body)


def _unquote(t: _Tokens, quoted: str, line: int) -> str:
    body = quoted[1:-1]
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        i += 1
        esc = body[i]
        if esc in _ESCAPES:
            out.append(_ESCAPES[esc])
            i += 1
        elif esc in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i:]).group()
            out.append(chr(int(digits, 8)))
            i += len(digits)
        elif esc in "xX":
            digits = re.match(r"[0-9a-fA-F]{1,2}", body[i + 1:])
            if digits is None:
                raise t.error(f"bad escape in string {quoted}", line)
            out.append(chr(int(digits.group(), 16)))
            i += 1 + len(digits.group())
        else:
            raise t.error(f"unknown escape '\\{esc}' in string {quoted}", line)
    return "".join(out)
