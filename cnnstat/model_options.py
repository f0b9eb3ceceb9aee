"""The options a model takes, parsed and checked: ``--input`` (``parse_input``, then
``resolve_input`` against the model's input rank), ``--set`` (``parse_sets``) and ``--arg``
(``parse_args``). The definition parser, the importers and the commands read them here; nothing
here imports more than the errors and the limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import UsageError
from .limits import MAX_INPUT_SIZE

_INPUT = re.compile(r"^\s*\d+\s*(?:[x×,]\s*\d+\s*){0,3}$")


@dataclass(frozen=True)
class InputSize:
    """A size as ``--input`` gives it (1 to 4 numbers), before it is read against the model's
    input: how many numbers mean what depends on the model's spatial rank (``resolve_input``)."""
    values: tuple[int, ...]
    text: str

    def __str__(self) -> str:
        return self.text


def parse_input(text: str | int | tuple | list | InputSize | None) -> InputSize | InputList | None:
    """``224``, ``160x224``, ``3x224x224``, ``1x16000``, ``3x16x112x112`` (or a tuple of ints)
    → the numbers, checked; what they mean is decided against the model (``resolve_input``).
    Several texts (``["3x224x224", "16:int64"]``) or a named one (``"image=3x224x224"``): the
    inputs of a PyTorch model whose forward takes several (:class:`InputList`)."""
    if text is None or isinstance(text, (InputSize, InputList)):
        return text
    if several_inputs(text):
        return _input_list([text] if isinstance(text, str) else list(text))
    if isinstance(text, int) and not isinstance(text, bool):
        text = str(text)
    if isinstance(text, (tuple, list)):
        if text and text[0] is None:            # (None, *spatial): the channels kept
            return _spatial_only(tuple(text[1:]))
        text = "x".join(str(v) for v in text)
    m = _INPUT.match(str(text))
    if not m:
        raise UsageError(f"--input '{text}' is not a size: write 224 or 160x224 (H×W), 3x224x224 "
                         "(C×H×W), 1x16000 (C×L of a 1-D model) or 3x16x112x112 (C×D×H×W)")
    values = _checked(tuple(int(v) for v in re.split(r"\s*[x×,]\s*", str(text).strip())), text)
    return InputSize(values, str(text).strip())


#: one input of several (``--input 3x224x224 --input 16:int64``, ``--input image=3x224x224``):
#: [NAME=]SIZE[:DTYPE], SIZE the input's whole per-sample shape (any rank)
_ONE_OF_SEVERAL = re.compile(r"^\s*(?:(?P<name>[A-Za-z_]\w*)\s*=\s*)?"
                             r"(?P<size>\d+(?:\s*[x×,]\s*\d+){0,7})\s*"
                             r"(?::\s*(?P<dtype>[a-z0-9]+))?\s*$")
#: the element types an input may have (torch's names); float32 when not given
INPUT_DTYPES = ("float32", "float16", "bfloat16", "float64", "int64", "int32", "int16", "int8",
                "uint8", "bool")


@dataclass(frozen=True)
class InputList:
    """The inputs of a forward that takes several, or takes them by keyword (``--input`` given
    more than once, or as NAME=SIZE): each item (keyword or None, per-sample shape without the
    batch, element type or None for float32). Only an imported PyTorch model takes these; each
    SIZE is the input's whole shape (``16`` is a vector of 16), not read against the model."""
    items: tuple[tuple[str | None, tuple[int, ...], str | None], ...]
    text: str

    def __str__(self) -> str:
        return self.text


def _input_list(texts: list[str] | tuple[str, ...]) -> InputList:
    items = []
    for text in texts:
        m = _ONE_OF_SEVERAL.match(str(text))
        if not m:
            raise UsageError(f"--input '{text}' is not an input: write SIZE, NAME=SIZE or "
                             "SIZE:DTYPE, e.g. --input 3x224x224 --input tokens=16:int64")
        dtype = m["dtype"]
        if dtype is not None and dtype not in INPUT_DTYPES:
            from .suggest import did_you_mean
            raise UsageError(f"--input '{text}': unknown element type '{dtype}'"
                             f"{did_you_mean(dtype, INPUT_DTYPES, 1)}; one of: "
                             f"{', '.join(INPUT_DTYPES)}")
        shape = _checked(tuple(int(v) for v in re.split(r"\s*[x×,]\s*", m["size"])), text)
        items.append((m["name"], shape, dtype))
    names = [name for name, _, _ in items]
    if any(names) and not all(names):
        raise UsageError("--input: name every input (NAME=SIZE, passed by keyword) or none "
                         "(passed in order), not some")
    twice = sorted({n for n in names if n and names.count(n) > 1})
    if twice:
        raise UsageError(f"--input: the input '{twice[0]}' is given twice")
    return InputList(tuple(items), ", ".join(str(t).strip() for t in texts))


def _checked(values: tuple[int, ...], text: str) -> tuple[int, ...]:
    if any(v <= 0 for v in values):
        raise UsageError(f"--input '{text}': sizes must be positive")
    if any(v > MAX_INPUT_SIZE for v in values):
        raise UsageError(f"--input '{text}': a size over {MAX_INPUT_SIZE:,} is not a real input")
    return values


def several_inputs(text: Any) -> bool:
    """Whether ``text`` is --input given several times or with a name (texts, not numbers)."""
    if isinstance(text, InputList):
        return True
    if isinstance(text, str):
        return "=" in text
    return isinstance(text, (tuple, list)) and bool(text) and all(
        isinstance(t, str) for t in text)


@dataclass(frozen=True)
class _Spatial(InputSize):
    """Spatial sizes only, one per axis (internal callers: the channels are the model's)."""


def _spatial_only(sizes: tuple) -> InputSize:
    if not sizes or any(not isinstance(v, int) or isinstance(v, bool) or v <= 0 for v in sizes):
        raise UsageError(f"input sizes must be positive integers, got {sizes!r}")
    return _Spatial(sizes, "x".join(map(str, sizes)))


#: how a model of each spatial rank reads 1, 2, 3 or 4 numbers (the letters of its sizes), and
#: examples of what it takes
_READINGS = {1: {1: "L", 2: "CL"}, 2: {1: "S", 2: "HW", 3: "CHW"}, 3: {3: "DHW", 4: "CDHW"}}
_KIND = {1: "a 1-D model (C×L)", 2: "an image model (C×H×W)", 3: "a 3-D model (C×D×H×W)"}
_ANY_READING = {1: "one size (the length L of a 1-D input, or the side of a square image)",
                2: "two sizes (H×W of an image, or C×L of a 1-D input)",
                3: "three sizes (C×H×W of an image, or D×H×W of a 3-D input)",
                4: "four sizes (C×D×H×W of a 3-D input)"}


def resolve_input(size: InputSize | tuple | str | int | None, shape: tuple[int, ...],
                  model: str | None = None) -> tuple[int, ...]:
    """The model's input shape ``shape`` ((C, L), (C, H, W) or (C, D, H, W)) with ``--input``
    applied, read against the model's spatial rank:

    - a 1-D model: ``16000`` is L, ``1x16000`` is C×L;
    - an image model: ``224`` is 224×224, ``160x224`` is H×W, ``3x224x224`` C×H×W;
    - a 3-D model: ``16x112x112`` is D×H×W, ``3x16x112x112`` C×D×H×W.

    Anything else is ambiguous or of another rank: one UsageError line that says how the size
    reads and what to write instead. The channels not given are the model's."""
    size = parse_input(size)
    if size is None:
        return tuple(shape)
    if isinstance(size, InputList):
        raise UsageError(f"{model or 'the model'} takes one input: give one --input SIZE "
                         "(several, or NAME=SIZE, are for a PyTorch model whose forward takes "
                         "several)")
    rank = len(shape) - 1
    values = size.values
    if isinstance(size, _Spatial):
        if len(values) == rank:
            return (shape[0],) + values
        reading = None
    else:
        reading = _READINGS.get(rank, {}).get(len(values))
    if reading is None:
        raise UsageError(_wrong_size(size, shape, model))
    if reading == "S":
        return (shape[0], values[0], values[0])
    if reading.startswith("C"):
        return values
    return (shape[0],) + values


def _wrong_size(size: InputSize, shape: tuple[int, ...], model: str | None) -> str:
    rank = len(shape) - 1
    who = f"{model} is {_KIND.get(rank, f'a {rank}-D model')}" if model else \
        f"the model is {_KIND.get(rank, f'a {rank}-D model')}"
    if all(shape):
        default = "×".join(map(str, shape))
        spatial, side = "×".join(map(str, shape[1:])), str(shape[1])
    else:                                # a model without default sizes: examples
        spatial, side = {1: ("16000", "16000"), 3: ("16×112×112", "112")}.get(rank,
                                                                           ("224×224", "224"))
        default = f"{shape[0] or (1 if rank == 1 else 3)}×{spatial}"
    if rank == 1:
        write = f"write L ({spatial}) or C×L ({default})"
    elif rank == 3:
        write = f"write D×H×W ({spatial}) or C×D×H×W ({default})"
    else:
        write = f"write one side ({side}), H×W ({spatial}) or C×H×W ({default})"
    if isinstance(size, _Spatial):
        read = f"{len(size.values)} spatial size(s)"
    else:
        read = _ANY_READING.get(len(size.values), f"{len(size.values)} numbers")
    known = f", default {default}" if all(shape) else ""
    return f"--input '{size.text}' reads as {read}, but {who}{known}: {write}"


def parse_sets(items: list[str] | dict | None) -> dict[str, str]:
    """``--set alpha=0.5`` items → {name: expression source}."""
    if not items:
        return {}
    if isinstance(items, dict):
        return {str(k): (v if isinstance(v, str) else repr(v)) for k, v in items.items()}
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(f"--set '{item}' must be NAME=VALUE, e.g. --set alpha=0.5")
        out[name.strip()] = value.strip()
    return out


def parse_args(items: list[str] | dict | None, option: str = "--arg") -> dict[str, object]:
    """``--arg num_classes=10`` items → {name: value} for an imported model's builder. Values are
    Python literals (10, 0.5, True, None, 'text', (1, 2)); true/false/none in any case too;
    anything else is kept as text."""
    if not items:
        return {}
    if isinstance(items, dict):
        return dict(items)
    import ast
    out: dict[str, object] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise UsageError(f"{option} '{item}' must be NAME=VALUE, e.g. {option} num_classes=10")
        text = text.strip()
        words = {"true": True, "false": False, "none": None}
        if text.lower() in words:
            out[name] = words[text.lower()]
            continue
        try:
            out[name] = ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            out[name] = text
    return out
