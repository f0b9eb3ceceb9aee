"""Capture by execution: run a ``torch.nn.Module``'s forward once and record what it does.

:func:`capture` returns a :class:`Trace`, plain Python data with no torch object in it: the
ordered torch calls the forward made (each an :class:`OpRecord`: the function's name, its
arguments with tensors replaced by :class:`Ref` to value ids, the values it produced, the module
whose forward made it), every tensor value with its shape and dtype, the module calls (the layer
hierarchy, with each call's input and output values), the parameter and buffer table (each tensor
once, with its owner and its other names) and the output structure. Mapping the trace onto
cnnstat's operators is the importer's job, not this module's; docs/capture.md explains why this
mechanism was chosen over ``torch.export`` (with the measurements).

How it runs (the design, measured in docs/capture.md):

- **Functions, not ATen kernels.** A ``TorchFunctionMode`` sees every call of the torch API —
  ``torch.*``, ``torch.nn.functional.*``, ``Tensor`` methods and operators — at the level the
  model's code wrote it: ``F.linear``, ``F.scaled_dot_product_attention``, ``F.batch_norm``,
  ``Tensor.reshape``. Only the outermost call is seen (the mode is off while a function runs),
  so ``F.interpolate`` is one record, not its internals. Calls that return no tensor
  (``x.shape``, ``x.dim()``) are not recorded.
- **Modules by hooks.** Global forward pre/post hooks keep the stack of module calls, named by
  their path in the module tree (``layer1.0.conv1``); every record knows its innermost call.
- **Meta tensors first.** The module's parameters, buffers and plain tensor attributes are
  swapped, for the duration of the forward, for tensors of the same shape on the ``meta`` device
  (no memory, no arithmetic: ResNet-50 in a few tens of milliseconds), factory functions default
  to ``meta``, and the originals are put back afterwards (the very same objects). A forward that
  needs real values (``x.item()``, ``if x.sum() > 0``, a CPU tensor made with an explicit device)
  fails on meta; it is then run again on real tensors on the module's own device, and
  :attr:`Trace.mode` says so, with the reason.
- **Restored.** The training flag of every submodule is set for the capture (``train``: False
  by default, i.e. inference) and restored after, as are parameters, buffers and the device.
  Gradients are off (``torch.no_grad``); under a function mode ``nn.MultiheadAttention`` does not
  take its fused fast path, so attention is recorded as the functions it is made of.
- **Bounded.** A forward that does not finish is stopped: the deadline (``timeout`` seconds,
  default 60) and an operation budget (``max_ops``) are checked at every torch call, and in the
  main thread a ``SIGALRM`` timer also interrupts a loop that makes no torch call. Either gives a
  :class:`~cnnstat.errors.CnnstatError`.

Known limits: an in-place write through a view (``x.view(-1).zero_()``) is recorded on the view,
not on its base; Python-side caching of tensors between calls is invisible; a forward that
branches on values sees only the branch its inputs took (as any execution-based tool).
"""

from __future__ import annotations

import inspect
import math
import signal
import sys
import threading
import time
import weakref
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator

from ..errors import CnnstatError, UsageError

#: default wall-clock budget of one capture, seconds
DEFAULT_TIMEOUT = 60.0
#: default budget of recorded and unrecorded torch calls (a forward looping forever hits it)
DEFAULT_MAX_OPS = 200_000


# ----------------------------------------------------------------------------------------------
# The trace: plain data


@dataclass(frozen=True)
class Ref:
    """A tensor inside an op's arguments or an output structure: the id of its value."""
    value: int


@dataclass(frozen=True)
class Opaque:
    """A non-tensor argument with no plain-data form (a function, a module...): its repr."""
    text: str


@dataclass(frozen=True)
class Value:
    """One tensor value. ``source``: 'input', 'op' (made by ``producer``), 'parameter',
    'buffer' (``name`` is the qualified name), or 'constant' (a tensor the forward found
    elsewhere: ``name`` is its attribute path when it is a module attribute, else None).
    ``version_of``: for the result of an in-place call, the value it overwrote."""
    id: int
    shape: tuple[int, ...]
    dtype: str
    source: str
    name: str | None = None
    producer: int | None = None
    version_of: int | None = None

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass
class OpRecord:
    """One torch call. ``op``: the function's public name (``torch.nn.functional.conv2d``,
    ``torch.Tensor.view``, ``torch.cat``...); ``args``/``kwargs``: the arguments as given, tensors
    replaced by :class:`Ref` (dtypes, devices and memory formats as strings, ``torch.Size`` as a
    tuple, slices and Ellipsis as they are); ``inputs``/``outputs``: the value ids of every
    tensor argument / result, flattened in order; ``output``: the result's structure;
    ``module``/``module_class``/``call``: the innermost module call whose forward made it;
    ``inplace``: the call overwrote ``inputs[0]`` (its new version is ``outputs[0]``, whose
    ``version_of`` is ``inputs[0]``);
    ``bound``: for a function written in Python (``torch.nn.functional.dropout``,
    ``interpolate``, ``pad``...), every argument by parameter name, defaults filled in — torch's
    wrappers pass some arguments by keyword, so ``args`` alone differs from how the model's
    code called it; None for builtins (``torch.conv2d``, ``Tensor.view``), whose arguments are
    positional in ATen's schema order.
    ``shares``: per output, whether it shares the storage of the first tensor argument (a view
    of it, or the argument itself written in place) — what the memory model needs to know."""
    index: int
    op: str
    args: tuple
    kwargs: dict
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    output: Any
    module: str
    module_class: str
    call: int
    inplace: bool = False
    bound: dict | None = None
    shares: tuple[bool, ...] = ()


@dataclass
class ModuleCall:
    """One call of a module's forward. ``path``: its name in the module tree ('' for the root;
    a module not in the tree is ``<parent>.<ClassName>``); ``parent``: the enclosing call's
    index; ``ops``: the range of op indices made while it ran (nested calls included)."""
    index: int
    path: str
    module_class: str
    parent: int | None
    inputs: tuple[int, ...]
    outputs: tuple[int, ...] = ()
    first_op: int = 0
    end_op: int = 0


@dataclass(frozen=True)
class TensorEntry:
    """A parameter or buffer of the module, each tensor once: ``name`` is its first qualified
    name (``named_parameters`` order), ``aliases`` the other names it has (tied weights),
    ``owner`` the module holding it under ``name``."""
    name: str
    kind: str                      # 'parameter' | 'buffer'
    owner: str
    owner_class: str
    shape: tuple[int, ...]
    dtype: str
    requires_grad: bool
    persistent: bool
    value: int
    aliases: tuple[str, ...] = ()

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class InputRecord:
    name: str                      # the forward's parameter name, or 'args[i]'
    keyword: bool
    value: int | None              # None: a non-tensor argument (then ``constant`` holds it)
    constant: Any = None


@dataclass
class Trace:
    """What one forward did. ``mode``: 'meta' (shapes only) or the device it really ran on;
    ``fallback``: why meta was not enough (None when it was)."""
    root_class: str
    training: bool
    inputs: list[InputRecord]
    ops: list[OpRecord]
    values: dict[int, Value]
    tensors: list[TensorEntry]
    calls: list[ModuleCall]
    modules: dict[str, str]        # path → qualified class name, for every module in the tree
    output: Any
    mode: str
    fallback: str | None
    seconds: float
    torch_calls: int               # torch calls seen, recorded or not

    @property
    def output_values(self) -> list[int]:
        return [r.value for r in _refs(self.output)]

    @property
    def params(self) -> int:
        return sum(t.numel for t in self.tensors if t.kind == "parameter")

    @property
    def buffers(self) -> int:
        return sum(t.numel for t in self.tensors if t.kind == "buffer")

    def tensor(self, name: str) -> TensorEntry:
        for t in self.tensors:
            if t.name == name or name in t.aliases:
                return t
        raise KeyError(name)

    def ops_of(self, path: str) -> list[OpRecord]:
        """The records made while the module at ``path`` ran (nested modules included)."""
        prefix = path + "."
        return [r for r in self.ops if r.module == path or r.module.startswith(prefix)
                or path == ""]

    def to_dict(self) -> dict:
        """JSON-ready form (Ref → {"ref": id}, Opaque → {"opaque": text}; tuples → lists)."""
        return _jsonable(asdict(self))


def _refs(structure: Any) -> Iterator[Ref]:
    if isinstance(structure, Ref):
        yield structure
    elif isinstance(structure, (tuple, list)):
        for item in structure:
            yield from _refs(item)
    elif isinstance(structure, dict):
        for item in structure.values():
            yield from _refs(item)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {"value"} and isinstance(obj["value"], int):   # asdict(Ref)
            return {"ref": obj["value"]}
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, slice):
        return {"slice": [_jsonable(obj.start), _jsonable(obj.stop), _jsonable(obj.step)]}
    if obj is Ellipsis:
        return {"ellipsis": True}
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


# ----------------------------------------------------------------------------------------------
# Errors


class CaptureTimeout(CnnstatError):
    """The forward ran past its time or operation budget."""


class _Stop(BaseException):
    """Raised inside the forward by the budget checks (a BaseException, so that a model's own
    ``except Exception`` cannot swallow it)."""


# ----------------------------------------------------------------------------------------------
# The recorder


class _Recorder:
    """State of one capture: value ids, records, the module-call stack, the budget."""

    def __init__(self, module, names: dict[int, str], deadline: float, max_ops: int):
        import torch

        self.torch = torch
        self.names = names                      # id(module) → path
        self.deadline = deadline
        self.max_ops = max_ops
        self.count = 0
        self.stopped: str | None = None
        self.values: dict[int, Value] = {}
        self.ops: list[OpRecord] = []
        self.calls: list[ModuleCall] = []
        self.stack: list[int] = []              # indices of the open module calls
        self.live: dict[int, tuple[Any, int]] = {}   # id(tensor) → (weakref, value id)
        self.constants: dict[int, str] = {}     # id(tensor) → attribute path of a tensor attribute
        self.op_names: dict[Any, str] = {}
        self.dtype_names: dict[Any, str] = {}
        self.signatures: dict[Any, inspect.Signature | None] = {}
        self.failed_in: dict[int, str] = {}     # id(exception) → innermost module it left

    # values ---------------------------------------------------------------------------------
    def _dtype(self, dtype) -> str:
        name = self.dtype_names.get(dtype)
        if name is None:
            name = self.dtype_names[dtype] = str(dtype).replace("torch.", "")
        return name

    def new_value(self, tensor, source: str, name: str | None = None,
                  producer: int | None = None, version_of: int | None = None) -> int:
        vid = len(self.values)
        self.values[vid] = Value(vid, tuple(tensor.shape), self._dtype(tensor.dtype), source,
                                 name, producer, version_of)
        try:
            ref = weakref.ref(tensor)
        except TypeError:
            ref = lambda tensor=tensor: tensor  # noqa: E731 (a tensor that takes no weakref)
        self.live[id(tensor)] = (ref, vid)
        return vid

    def value_of(self, tensor) -> int:
        entry = self.live.get(id(tensor))
        if entry is not None and entry[0]() is tensor:
            return entry[1]
        return self.new_value(tensor, "constant", self.constants.get(id(tensor)))

    # arguments ------------------------------------------------------------------------------
    def plain(self, obj: Any, refs: list[int]) -> Any:
        """``obj`` with tensors replaced by Ref (their value ids appended to ``refs``)."""
        torch = self.torch
        if isinstance(obj, torch.Tensor):
            vid = self.value_of(obj)
            refs.append(vid)
            return Ref(vid)
        if obj is None or isinstance(obj, (bool, int, float, str)):
            return obj
        if isinstance(obj, torch.Size):
            return tuple(int(d) for d in obj)
        if isinstance(obj, (list, tuple)):
            items = [self.plain(o, refs) for o in obj]
            if hasattr(obj, "_fields"):                         # named tuple
                return dict(zip(obj._fields, items))
            return items if isinstance(obj, list) else tuple(items)
        if isinstance(obj, dict):
            return {str(k): self.plain(v, refs) for k, v in obj.items()}
        if isinstance(obj, slice):
            return slice(self.plain(obj.start, refs), self.plain(obj.stop, refs),
                         self.plain(obj.step, refs))
        if obj is Ellipsis:
            return obj
        if isinstance(obj, (torch.dtype, torch.device, torch.memory_format, torch.layout)):
            return str(obj).replace("torch.", "")
        if isinstance(obj, complex):
            return Opaque(repr(obj))
        return Opaque(f"{type(obj).__name__}")

    def outputs(self, out: Any, index: int, produced: list[int]) -> Any:
        """The result's structure, each tensor a new value made by op ``index`` (a tensor object
        seen before — written in place, or returned as it is — gets a new value that records
        the one it follows in ``version_of``)."""
        torch = self.torch
        if isinstance(out, torch.Tensor):
            previous = self.live.get(id(out))
            version_of = previous[1] if previous is not None and previous[0]() is out else None
            vid = self.new_value(out, "op", producer=index, version_of=version_of)
            produced.append(vid)
            return Ref(vid)
        if isinstance(out, (list, tuple)):
            items = [self.outputs(o, index, produced) for o in out]
            if hasattr(out, "_fields"):
                return dict(zip(out._fields, items))
            return items if isinstance(out, list) else tuple(items)
        if isinstance(out, dict):
            return {str(k): self.outputs(v, index, produced) for k, v in out.items()}
        return self.plain(out, [])

    # the budget -----------------------------------------------------------------------------
    def tick(self) -> None:
        self.count += 1
        if self.count > self.max_ops:
            self.stopped = f"more than {self.max_ops:,} torch calls"
            raise _Stop(self.stopped)
        if time.monotonic() > self.deadline:
            self.stopped = "its time budget"
            raise _Stop(self.stopped)

    # records --------------------------------------------------------------------------------
    def op_name(self, func) -> str:
        name = self.op_names.get(func)
        if name is None:
            name = self.op_names[func] = _public_name(func)
        return name

    def record(self, func, args, kwargs, out) -> None:
        torch = self.torch
        name = self.op_name(func)
        if name == "torch.Tensor.__setitem__":
            out = args[0]                         # the tensor written into is the result
        elif not _has_tensor(out, torch.Tensor):
            return
        refs: list[int] = []
        plain_args = self.plain(args, refs)
        plain_kwargs = {k: self.plain(v, refs) for k, v in kwargs.items()}
        bound = None
        signature = self.signature(func)
        if signature is not None:
            try:
                arguments = signature.bind(*args, **kwargs)
                arguments.apply_defaults()
                bound = {k: self.plain(v, []) for k, v in arguments.arguments.items()}
            except TypeError:
                bound = None
        index = len(self.ops)
        produced: list[int] = []
        structure = self.outputs(out, index, produced)
        call = self.stack[-1] if self.stack else -1
        path, cls = (self.calls[call].path, self.calls[call].module_class) if call >= 0 \
            else ("", "")
        inplace = bool(refs) and _writes_first_argument(name, kwargs if bound is None else bound)
        first = next(_tensors((args, kwargs), torch.Tensor), None)
        root = None if first is None else (first._base if first._base is not None else first)
        shares = tuple(root is not None and (t._base if t._base is not None else t) is root
                       for t in _tensors(out, torch.Tensor))
        self.ops.append(OpRecord(index, name, tuple(plain_args), plain_kwargs, tuple(refs),
                                 tuple(produced), structure, path, cls, call, inplace, bound,
                                 shares))

    def signature(self, func) -> inspect.Signature | None:
        if func not in self.signatures:
            signature = None
            if inspect.isfunction(func):
                try:
                    signature = inspect.signature(func)
                except (TypeError, ValueError):
                    signature = None
            self.signatures[func] = signature
        return self.signatures[func]

    # module hooks ---------------------------------------------------------------------------
    def enter(self, module, args) -> None:
        parent = self.stack[-1] if self.stack else None
        path = self.names.get(id(module))
        if path is None:
            base = self.calls[parent].path if parent is not None else ""
            path = f"{base}.<{type(module).__name__}>" if base else f"<{type(module).__name__}>"
        refs: list[int] = []
        self.plain(args, refs)
        index = len(self.calls)
        self.calls.append(ModuleCall(index, path, _class_name(type(module)), parent,
                                     tuple(refs), first_op=len(self.ops)))
        self.stack.append(index)

    def leave(self, module, output) -> None:
        if not self.stack:
            return
        index = self.stack.pop()
        call = self.calls[index]
        raised = sys.exc_info()[1]             # set when the forward is leaving by an exception
        if raised is not None:
            self.failed_in.setdefault(id(raised), call.path)
        refs: list[int] = []
        if output is not None:
            for tensor in _tensors(output, self.torch.Tensor):
                entry = self.live.get(id(tensor))
                refs.append(entry[1] if entry is not None and entry[0]() is tensor
                            else self.value_of(tensor))
        call.outputs = tuple(refs)
        call.end_op = len(self.ops)


def _writes_first_argument(name: str, arguments: dict) -> bool:
    """Whether a call overwrites its first tensor argument: a method with a trailing underscore
    (``add_``, ``relu_``), an augmented operator (``__iadd__``), ``__setitem__``, or an
    ``inplace=True`` functional (``F.relu(x, inplace=True)``). An op that only returns its
    input object (``F.dropout`` in eval, ``contiguous``) is not in place."""
    short = name.rsplit(".", 1)[-1]
    if short.startswith("__"):
        return short == "__setitem__" or (short.startswith("__i") and short not in
                                          ("__index__", "__int__", "__invert__", "__iter__"))
    return short.endswith("_") or arguments.get("inplace") is True


def _has_tensor(obj: Any, tensor_type) -> bool:
    if isinstance(obj, tensor_type):
        return True
    if isinstance(obj, (list, tuple)):
        return any(_has_tensor(o, tensor_type) for o in obj)
    if isinstance(obj, dict):
        return any(_has_tensor(o, tensor_type) for o in obj.values())
    return False


def _tensors(obj: Any, tensor_type) -> Iterator[Any]:
    if isinstance(obj, tensor_type):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for o in obj:
            yield from _tensors(o, tensor_type)
    elif isinstance(obj, dict):
        for o in obj.values():
            yield from _tensors(o, tensor_type)


def _class_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _public_name(func) -> str:
    """``torch.nn.functional.conv2d``, ``torch.Tensor.view``, ``torch.cat`` — torch's own
    name for an overridable function (``torch.overrides.resolve_name``), else its module and
    qualified name."""
    from torch.overrides import resolve_name

    name = resolve_name(func)
    if name:
        return name
    module = getattr(func, "__module__", None) or ""
    qualname = getattr(func, "__qualname__", None) or getattr(func, "__name__", repr(func))
    if module in ("torch._C", "torch._tensor", "") and "." in qualname:
        return f"torch.Tensor.{qualname.rsplit('.', 1)[-1]}"
    return f"{module}.{qualname}" if module else qualname


# ----------------------------------------------------------------------------------------------
# Inputs


@dataclass
class _Inputs:
    args: tuple
    kwargs: dict
    names: list[tuple[str, bool]]            # (name, keyword) for each tensor/constant, in order


def _is_shape(obj: Any) -> bool:
    return isinstance(obj, (tuple, list)) and len(obj) > 0 and all(
        isinstance(d, int) and not isinstance(d, bool) for d in obj)


def normalize_inputs(inputs: Any) -> tuple[tuple, dict]:
    """(args, kwargs) from: a shape (ints, batch included), a tensor, a tuple/list of tensors or
    shapes (several positional inputs), or a dict of keyword inputs (tensors or shapes).
    Shapes stay tuples here; tensors stay tensors."""
    import torch

    if isinstance(inputs, torch.Tensor):
        return (inputs,), {}
    if _is_shape(inputs):
        return (tuple(inputs),), {}
    if isinstance(inputs, dict):
        kwargs = {}
        for key, value in inputs.items():
            if not isinstance(key, str):
                raise UsageError(f"keyword inputs need string names, not {key!r}")
            kwargs[key] = tuple(value) if _is_shape(value) else value
        return (), kwargs
    if isinstance(inputs, (tuple, list)) and inputs:
        return tuple(tuple(v) if _is_shape(v) else v for v in inputs), {}
    raise UsageError(f"inputs must be a shape, a tensor, a tuple of tensors or a dict of keyword "
                     f"tensors, not {type(inputs).__name__}")


def _materialize(obj: Any, device, dtype, generator) -> Any:
    """A shape → a tensor on ``device`` (random normal, or empty on meta); a tensor → itself on
    ``device`` (a meta copy when ``device`` is meta)."""
    import torch

    if isinstance(obj, tuple) and _is_shape(obj):
        if any(d < 0 for d in obj):
            raise UsageError(f"an input shape has a negative size: {obj}")
        if str(device) == "meta":
            return torch.empty(obj, dtype=dtype, device="meta")
        return torch.randn(obj, generator=generator, dtype=torch.float32).to(device, dtype)
    if isinstance(obj, torch.Tensor):
        if str(device) == "meta":
            return torch.empty_like(obj, device="meta")
        return obj.to(device) if obj.device != torch.device(device) else obj
    return obj


def _check_signature(module, args: tuple, kwargs: dict) -> list[str]:
    """The names of the forward's arguments, positional first; an error naming what is missing
    or unexpected when the inputs cannot be bound."""
    try:
        signature = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return [f"args[{i}]" for i in range(len(args))]
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as exc:
        required = [p.name for p in signature.parameters.values()
                    if p.default is inspect.Parameter.empty
                    and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        raise UsageError(f"{type(module).__name__}.forward({', '.join(required)}) cannot take the "
                         f"given inputs ({len(args)} positional, keywords {sorted(kwargs)}): "
                         f"{exc}; give one input per required argument") from None
    names = []
    for name, param in signature.parameters.items():
        if name in bound.arguments and param.kind == param.VAR_POSITIONAL:
            names.extend(f"{name}[{i}]" for i in range(len(bound.arguments[name])))
        elif name in bound.arguments and param.kind != param.VAR_KEYWORD:
            names.append(name)
    return names[:len(args)]


# ----------------------------------------------------------------------------------------------
# Swapping the module's state for meta tensors


class _MetaState:
    """Swap every parameter, buffer and plain tensor attribute of the module tree for a meta
    tensor of the same shape, dtype and requires_grad, and put the originals back — also
    where the forward replaced them (a buffer used as a cache, ConViT's ``rel_indices``) — and
    take away the meta tensors a forward left in new attributes."""

    def __init__(self, modules: list):
        self.modules = modules                       # each module of the tree once
        self.saved: list[tuple[dict, str, Any]] = []
        self.keys: list[tuple[dict, set]] = []       # each store's names before the forward
        self.meta_of: dict[int, Any] = {}            # id(original) → meta tensor

    def _meta(self, tensor):
        import torch
        from torch import nn

        meta = self.meta_of.get(id(tensor))
        if meta is None:
            meta = torch.empty_like(tensor, device="meta")
            if isinstance(tensor, nn.Parameter):
                meta = nn.Parameter(meta, requires_grad=tensor.requires_grad)
            self.meta_of[id(tensor)] = meta
        return meta

    def __enter__(self) -> "_MetaState":
        import torch

        try:
            for module in self.modules:
                for store in (module._parameters, module._buffers, module.__dict__):
                    self.keys.append((store, set(store)))
                    for name, value in list(store.items()):
                        if isinstance(value, torch.Tensor) and value.device.type != "meta":
                            self.saved.append((store, name, value))
                            store[name] = self._meta(value)
        except BaseException:
            self.restore()
            raise
        return self

    def restore(self) -> None:
        import torch

        for store, before in self.keys:
            for name in set(store) - before:
                value = store[name]
                if isinstance(value, torch.Tensor) and value.device.type == "meta":
                    del store[name]
        for store, name, tensor in reversed(self.saved):
            store[name] = tensor
        self.saved.clear()
        self.keys.clear()

    def __exit__(self, *exc) -> None:
        self.restore()


# ----------------------------------------------------------------------------------------------
# The capture


def capture(module: Any, inputs: Any, *, train: bool = False, timeout: float = DEFAULT_TIMEOUT,
            max_ops: int = DEFAULT_MAX_OPS, meta: bool = True, dtype: Any = None) -> Trace:
    """Run ``module`` once on ``inputs`` and return the :class:`Trace` of what it did.

    ``inputs``: a shape with the batch (``(1, 3, 224, 224)``), a tensor, a tuple of tensors or
    shapes (several positional inputs), or a dict of keyword tensors or shapes. Shapes become
    ``dtype`` tensors (default: the dtype of the module's first floating-point parameter, else
    float32). ``train``: capture in training mode (dropout, batch statistics, auxiliary heads)
    instead of inference. ``meta=False`` skips the meta attempt and runs on real tensors."""
    import torch
    from torch import nn

    if not isinstance(module, nn.Module):
        raise UsageError(f"capture needs a torch.nn.Module, not {type(module).__name__}")
    args, kwargs = normalize_inputs(inputs)
    arg_names = _check_signature(module, args, kwargs)
    if dtype is None:
        dtype = next((p.dtype for p in module.parameters() if p.is_floating_point()),
                     torch.float32)
    device = next((t.device for t in _state_tensors(module)), torch.device("cpu"))
    if device.type == "meta":
        meta = True                       # a module built on meta can only run on meta

    start = time.perf_counter()
    deadline = time.monotonic() + timeout
    fallback = None
    tree = _Tree(module)
    flags = {m: m.training for m in tree.modules}
    try:
        module.train(train)
        if meta:
            try:
                recorder, out = _run(tree, args, kwargs, "meta", dtype, deadline, max_ops)
                mode = "meta"
            except _Failed as failure:
                if failure.final or device.type == "meta":
                    raise failure.error from None
                fallback = failure.reason
        if not meta or fallback is not None:
            try:
                recorder, out = _run(tree, args, kwargs, device, dtype, deadline, max_ops)
            except _Failed as failure:
                raise failure.error from None
            mode = device.type
    finally:
        for m, flag in flags.items():
            m.training = flag
    seconds = time.perf_counter() - start
    return _trace(tree, recorder, out, args, kwargs, arg_names, train, mode, fallback, seconds)


class _Tree:
    """The module tree, walked once: (path, module) pairs with shared modules under every
    path, the first path of each module, and each module once."""

    def __init__(self, root):
        self.root = root
        self.pairs = list(root.named_modules(remove_duplicate=False))
        self.path_of: dict[int, str] = {}
        self.modules = []
        for path, sub in self.pairs:
            if id(sub) not in self.path_of:
                self.path_of[id(sub)] = path
                self.modules.append(sub)


def _state_tensors(module) -> Iterator[Any]:
    yield from module.parameters()
    yield from module.buffers()


class _Failed(Exception):
    def __init__(self, error: CnnstatError, reason: str, final: bool):
        super().__init__(reason)
        self.error = error
        self.reason = reason
        self.final = final                 # no point retrying on real tensors


def _run(tree: _Tree, args, kwargs, device, dtype, deadline: float, max_ops: int,
         use_shortcuts: bool = True):
    """One forward under the recorder: (recorder, output), or :class:`_Failed`."""
    import contextlib

    import torch
    from torch.overrides import TorchFunctionMode
    from torch.utils._device import _device_constructors

    module = tree.root
    recorder = _Recorder(module, tree.path_of, deadline, max_ops)
    on_meta = str(device) == "meta"
    generator = torch.Generator().manual_seed(0)
    shortcuts = SHORTCUTS if on_meta and use_shortcuts else {}
    # on meta, factory functions called without a device make meta tensors (what
    # ``with torch.device("meta")`` does, without a second mode on every call)
    factories = _device_constructors() if on_meta else frozenset()

    class Mode(TorchFunctionMode):
        def __torch_function__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            recorder.tick()
            if func in factories and kwargs.get("device") is None:
                kwargs["device"] = "meta"
            shortcut = shortcuts.get(recorder.op_name(func))
            out = shortcut(args, kwargs) if shortcut is not None else None
            if out is None:
                out = func(*args, **kwargs)
            recorder.record(func, args, kwargs, out)
            return out

    def pre_hook(mod, hook_args):
        recorder.enter(mod, hook_args)

    def post_hook(mod, hook_args, output):
        recorder.leave(mod, output)

    def where() -> str | None:
        return (recorder.calls[recorder.stack[-1]].path or None) if recorder.stack else None

    with _MetaState(tree.modules) if on_meta else contextlib.nullcontext():
        table = _register_state(tree, recorder)
        call_args = tuple(_materialize(a, device, dtype, generator) for a in args)
        call_kwargs = {k: _materialize(v, device, dtype, generator) for k, v in kwargs.items()}
        recorder.input_values = [
            recorder.new_value(t, "input") if isinstance(t, torch.Tensor) else None
            for t in (*call_args, *call_kwargs.values())]
        handles = [torch.nn.modules.module.register_module_forward_pre_hook(pre_hook),
                   torch.nn.modules.module.register_module_forward_hook(post_hook,
                                                                        always_call=True)]
        try:
            with _Alarm(deadline, recorder), torch.no_grad(), Mode():
                out = module(*call_args, **call_kwargs)
        except _Stop as exc:
            at = recorder.failed_in.get(id(exc), where())
            error = CaptureTimeout(
                f"the forward of {type(module).__name__} did not finish within "
                f"{recorder.stopped}; stopped in {at or 'the root module'} (a loop that never "
                "ends? if it is only slow, give a longer timeout)", layer=at or None)
            raise _Failed(error, str(error), final=True) from None
        except CnnstatError as exc:
            raise _Failed(exc, str(exc), final=True) from None
        except (Exception, SystemExit) as exc:          # the model's forward may call sys.exit
            detail = " ".join(str(exc).split())[:300] or "(no message)"
            if isinstance(exc, SystemExit):
                detail = f"its code called sys.exit({exc.code!r})"
            at = recorder.failed_in.get(id(exc), where())
            error = CnnstatError(f"the forward of {type(module).__name__} raised "
                                 f"{type(exc).__name__}: {detail}", layer=at or None)
            raise _Failed(error, f"{type(exc).__name__} in {at or 'the root module'}: "
                          f"{detail}", final=False) from None
        finally:
            for handle in handles:
                handle.remove()
    if not _has_tensor(out, torch.Tensor):
        error = CnnstatError(f"the forward of {type(module).__name__} returned "
                             f"{type(out).__name__}, not tensors: nothing to analyze")
        raise _Failed(error, str(error), final=True)
    recorder.table = table
    return recorder, out


# ----------------------------------------------------------------------------------------------
# Shape shortcuts on meta tensors
#
# On meta tensors torch computes an output's shape by running the operator's meta function;
# for normalizations, several activations, linear and attention that function is a Python
# decomposition costing 0.1-1 ms a call (batch norm is half of ResNet-50's capture). For these
# the output is the input's shape (or a one-line rule), so the capture makes it directly with
# ``empty_like``/``new_empty`` — after checking the arguments agree, and otherwise running the
# real meta function so that a malformed call still raises torch's own error. A shortcut
# returns None to decline.


def _first(args, kwargs, name="input"):
    return args[0] if args else kwargs.get(name)


def _arguments(args, kwargs, names: tuple[str, ...]) -> list:
    """The arguments called ``names``, by position or keyword (None when absent)."""
    return [args[i] if i < len(args) else kwargs.get(name) for i, name in enumerate(names)]


def _same_dtype(*tensors) -> bool:
    dtypes = {t.dtype for t in tensors if t is not None}
    return len(dtypes) <= 1


def _like_input(args, kwargs):
    """Elementwise: the output is the input's shape, dtype and layout; an in-place call returns
    the input itself."""
    x = _first(args, kwargs)
    if not _is_meta(x) or kwargs.get("dtype") is not None:
        return None
    if kwargs.get("inplace") is True:     # torch's Python wrappers pass inplace by keyword
        return x
    import torch
    return torch.empty_like(x)


def _is_meta(x) -> bool:
    return getattr(x, "is_meta", False)


def _per_channel(x, *tensors, size) -> bool:
    """Optional affine/statistics tensors all of shape ``size`` and of ``x``'s dtype."""
    return _same_dtype(x, *tensors) and all(t is None or tuple(t.shape) == size
                                            for t in tensors)


def _batch_norm(args, kwargs):
    x, mean, var, weight, bias = _arguments(
        args, kwargs, ("input", "running_mean", "running_var", "weight", "bias"))
    if not _is_meta(x) or x.dim() < 2 or not _per_channel(x, weight, bias, size=(x.shape[1],)) \
            or not _per_channel(mean, var, size=(x.shape[1],)):
        return None
    import torch
    return torch.empty_like(x)


def _layer_norm(args, kwargs):
    x, shape, weight, bias = _arguments(args, kwargs,
                                        ("input", "normalized_shape", "weight", "bias"))
    if not _is_meta(x) or shape is None:
        return None
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    if tuple(x.shape[x.dim() - len(shape):]) != shape or not _per_channel(x, weight, bias,
                                                                         size=shape):
        return None
    import torch
    return torch.empty_like(x)


def _group_norm(args, kwargs):
    x, groups, weight, bias = _arguments(args, kwargs, ("input", "num_groups", "weight", "bias"))
    if not _is_meta(x) or x.dim() < 2 or not isinstance(groups, int) or groups <= 0 \
            or x.shape[1] % groups or not _per_channel(x, weight, bias, size=(x.shape[1],)):
        return None
    import torch
    return torch.empty_like(x)


def _linear(args, kwargs):
    x, weight, bias = _arguments(args, kwargs, ("input", "weight", "bias"))
    if not _is_meta(x) or weight is None or weight.dim() != 2 or x.dim() < 1 \
            or x.shape[-1] != weight.shape[1] or not _same_dtype(x, weight, bias):
        return None
    if bias is not None and tuple(bias.shape) not in ((weight.shape[0],), ()):
        return None
    return x.new_empty((*x.shape[:-1], weight.shape[0]))


def _attention(args, kwargs):
    q, k, v = _arguments(args, kwargs, ("query", "key", "value"))
    if not all(_is_meta(t) for t in (q, k, v)) or q.dim() < 2 or not _same_dtype(q, k, v):
        return None
    if k.shape[-1] != q.shape[-1] or k.shape[-2] != v.shape[-2] or k.dim() != v.dim():
        return None
    if kwargs.get("enable_gqa") or (len(args) > 7 and args[7]):
        return None                       # grouped queries: let torch check the head counts
    if tuple(q.shape[:-2]) != tuple(k.shape[:-2]):
        return None
    return q.new_empty((*q.shape[:-1], v.shape[-1]))


def _dropout(args, kwargs):
    """Dropout outside training returns its input itself (as torch does)."""
    x = _first(args, kwargs)
    if _is_meta(x) and kwargs.get("training") is False:
        return x
    return _like_input(args, kwargs)


def _broadcast(a: tuple, b: tuple) -> tuple | None:
    """NumPy broadcasting of two shapes, or None where they do not broadcast."""
    out = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x != y and x != 1 and y != 1:
            return None
        out.append(y if x == 1 else x)
    return tuple(reversed(out))


def _binary_shape(args, kwargs):
    """(a, shape of the result) of ``a op b`` when a is a meta tensor and b a meta tensor of the
    same dtype or a Python number that cannot change a floating dtype; else None."""
    import torch

    if len(args) != 2 or set(kwargs) - {"alpha"}:
        return None
    a, b = args
    if not _is_meta(a) or not a.is_floating_point():
        return None
    if isinstance(b, torch.Tensor):
        if not _is_meta(b) or b.dtype != a.dtype:
            return None
        shape = _broadcast(tuple(a.shape), tuple(b.shape))
        return None if shape is None else (a, b, shape)
    if isinstance(b, (int, float)) and not isinstance(b, bool):
        return a, None, tuple(a.shape)
    return None


def _binary(args, kwargs):
    """add, sub, mul, div: the broadcast shape (the layout of the operand with that shape)."""
    found = _binary_shape(args, kwargs)
    if found is None:
        return None
    import torch
    a, b, shape = found
    if shape == tuple(a.shape):
        return torch.empty_like(a)
    if b is not None and shape == tuple(b.shape):
        return torch.empty_like(b)
    return a.new_empty(shape)


def _binary_inplace(args, kwargs):
    """add_, mul_...: the first operand itself, when the result keeps its shape."""
    found = _binary_shape(args, kwargs)
    if found is None or found[2] != tuple(found[0].shape):
        return None
    return found[0]


def _mean(args, kwargs):
    """mean over given dims (squeeze-and-excitation's x.mean((2, 3), keepdim=True))."""
    x, dims, keepdim = _arguments(args, kwargs, ("input", "dim", "keepdim"))
    if not _is_meta(x) or not x.is_floating_point() or dims is None or kwargs.get("dtype") \
            or set(kwargs) - {"dim", "keepdim"}:
        return None
    dims = (dims,) if isinstance(dims, int) else tuple(dims)
    if not dims or not all(isinstance(d, int) and -x.dim() <= d < x.dim() for d in dims):
        return None
    dims = {d % x.dim() for d in dims}
    shape = [1 if i in dims else n for i, n in enumerate(x.shape)] if keepdim else \
        [n for i, n in enumerate(x.shape) if i not in dims]
    return x.new_empty(shape)


_ELEMENTWISE = ("relu", "relu6", "gelu", "silu", "hardswish", "hardsigmoid", "mish", "elu",
                "leaky_relu", "hardtanh", "sigmoid", "tanh", "softmax", "log_softmax")

#: public name → shortcut(args, kwargs) → meta output, or None to run torch's meta function
SHORTCUTS = {
    "torch.nn.functional.batch_norm": _batch_norm,
    "torch.nn.functional.layer_norm": _layer_norm,
    "torch.nn.functional.group_norm": _group_norm,
    "torch.nn.functional.linear": _linear,
    "torch.nn.functional.scaled_dot_product_attention": _attention,
    "torch.nn.functional.dropout": _dropout,
    "torch.Tensor.mean": _mean,
    "torch.mean": _mean,
    **{f"torch.nn.functional.{name}": _like_input for name in _ELEMENTWISE},
    **{f"torch.{where}{name}": _binary for where in ("", "Tensor.")
       for name in ("add", "sub", "mul", "div")},
    **{f"torch.Tensor.{name}_": _binary_inplace for name in ("add", "sub", "mul", "div")},
}


def _register_state(tree: _Tree, recorder: _Recorder) -> list[TensorEntry]:
    """The parameter/buffer table (each tensor once, first name wins, others are aliases) with
    a value for each; tensor attributes that are neither become named constants."""
    import torch

    module = tree.root
    named: dict[int, list[tuple[str, str, Any, Any]]] = {}
    owners = dict(tree.pairs)
    for kind, items in (("parameter", module.named_parameters(remove_duplicate=False)),
                        ("buffer", module.named_buffers(remove_duplicate=False))):
        for name, tensor in items:
            owner_path = name.rpartition(".")[0]
            named.setdefault(id(tensor), []).append((kind, name, tensor, owners[owner_path]))
    table = []
    for entries in named.values():
        kind, name, tensor, owner = entries[0]
        vid = recorder.new_value(tensor, kind, name)
        attr = name.rpartition(".")[2]
        persistent = kind == "parameter" or attr not in owner._non_persistent_buffers_set
        table.append(TensorEntry(name, kind, name.rpartition(".")[0], _class_name(type(owner)),
                                 tuple(tensor.shape), recorder._dtype(tensor.dtype),
                                 bool(tensor.requires_grad), persistent, vid,
                                 tuple(e[1] for e in entries[1:])))
    for sub in tree.modules:
        path = tree.path_of[id(sub)]
        for attr, value in sub.__dict__.items():
            if isinstance(value, torch.Tensor) and id(value) not in recorder.live:
                recorder.constants[id(value)] = f"{path}.{attr}" if path else attr
    return table


class _Alarm:
    """In the main thread, a SIGALRM at the deadline interrupts a forward that makes no torch
    call (a pure Python loop); elsewhere only the per-call checks apply."""

    def __init__(self, deadline: float, recorder: _Recorder):
        self.deadline = deadline
        self.recorder = recorder
        self.active = threading.current_thread() is threading.main_thread() and hasattr(
            signal, "setitimer")
        self.previous: Any = None

    def _fire(self, signum, frame):
        self.recorder.stopped = "its time budget"
        raise _Stop(self.recorder.stopped)

    def __enter__(self) -> "_Alarm":
        if self.active:
            self.previous = signal.signal(signal.SIGALRM, self._fire)
            signal.setitimer(signal.ITIMER_REAL, max(self.deadline - time.monotonic(), 1e-3))
        return self

    def __exit__(self, *exc) -> None:
        if self.active:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self.previous)


def _trace(tree: _Tree, recorder: _Recorder, out, args, kwargs, arg_names: list[str], train: bool,
           mode: str, fallback: str | None, seconds: float) -> Trace:
    inputs = []
    values = iter(recorder.input_values)
    for i, original in enumerate(args):
        vid = next(values)
        name = arg_names[i] if i < len(arg_names) else f"args[{i}]"
        inputs.append(InputRecord(name, False, vid, None if vid is not None
                                  else recorder.plain(original, [])))
    for key, original in kwargs.items():
        vid = next(values)
        inputs.append(InputRecord(key, True, vid, None if vid is not None
                                  else recorder.plain(original, [])))
    output = _output_structure(recorder, out)
    modules = {tree.path_of[id(sub)]: _class_name(type(sub)) for sub in tree.modules}
    return Trace(_class_name(type(tree.root)), train, inputs, recorder.ops, recorder.values,
                 recorder.table, recorder.calls, modules, output, mode, fallback, seconds,
                 recorder.count)


def _output_structure(recorder: _Recorder, out: Any) -> Any:
    """The forward's result with each tensor as a Ref to its value (dicts and named tuples
    → dicts with string keys, tuples and lists as they are)."""
    import torch

    if isinstance(out, torch.Tensor):
        return Ref(recorder.value_of(out))
    if isinstance(out, (list, tuple)):
        items = [_output_structure(recorder, o) for o in out]
        if hasattr(out, "_fields"):
            return dict(zip(out._fields, items))
        return items if isinstance(out, list) else tuple(items)
    if isinstance(out, dict):
        return {str(k): _output_structure(recorder, v) for k, v in out.items()}
    return recorder.plain(out, [])
