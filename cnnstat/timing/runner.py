"""Running a model for timing (imports torch): the device and dtype checks, which module is timed,
how it is prepared (dtype, memory format, torch.compile), and the clocks and memory probes.

Which module is timed (``--impl``):

- ``graph`` (default): the module cnnstat builds from the layer graph
  (cnnstat.torch_bridge.build.build_module) — any zoo name, definition file or imported model.
  Its forward runs the layers in order, as a hand-written ``forward`` would.
- ``torchvision``: torchvision's own implementation of the same network (the zoo name, or NAME in
  ``torchvision:NAME``), random weights. The static counts still come from cnnstat's definition;
  ``cnnstat check MODEL --against torchvision`` shows that the two are the same network.

Every module is in eval mode, runs under ``torch.inference_mode()``, with weights and input cast to
the dtype, and with ``--channels-last`` both in ``torch.channels_last``.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from ..errors import CnnstatError, UsageError
from ..graph import Graph
from .loop import Clock, EventClock, HostClock, SyncClock
from .memory import CudaMemory, RssMemory

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
IMPLS = ("graph", "torchvision")
OOM = "out of memory"
ERROR = "error"
OK = "ok"


def resolve_device(device: str | None) -> str:
    """'cpu', 'cuda' or 'cuda:N'; one line when CUDA is not there."""
    device = (device or "cpu").strip().lower()
    if device != "cpu" and device != "cuda" and not (device.startswith("cuda:")
                                                      and device[5:].isdigit()):
        raise UsageError(f"--device '{device}': choose cpu or cuda (or cuda:N)")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError(f"--device {device}: CUDA is not available on this machine (torch "
                             f"{torch.__version__}, built for CUDA {torch.version.cuda or 'none'}); "
                             "use --device cpu")
        index = torch.device(device).index or 0
        if index >= torch.cuda.device_count():
            raise UsageError(f"--device {device}: this machine has {torch.cuda.device_count()} "
                             "CUDA device(s)")
    return device


def parse_dtypes(text: str | None) -> list[str]:
    from ..roofline.profiles import canonical_dtype
    items = [canonical_dtype(t) for t in (text or "fp32").split(",") if t.strip()]
    if not items:
        raise UsageError("--dtype: name at least one of fp32, fp16, bf16")
    return list(dict.fromkeys(items))


def check_dtype(device: str, dtype: str) -> None:
    """One clear line when the device cannot run convolutions at ``dtype``."""
    if device.startswith("cuda") and dtype == "bf16" and not torch.cuda.is_bf16_supported():
        index = torch.device(device).index or 0
        cap = torch.cuda.get_device_capability(index)
        raise UsageError(f"--dtype bf16: {torch.cuda.get_device_name(index)} (compute capability "
                         f"{cap[0]}.{cap[1]}) does not support bfloat16; use fp16 or fp32")
    try:
        with torch.inference_mode():
            probe = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
            probe = probe.eval().to(device=device, dtype=DTYPES[dtype])
            probe(torch.zeros(1, 3, 8, 8, device=device, dtype=DTYPES[dtype]))
    except (RuntimeError, NotImplementedError, TypeError) as exc:
        raise UsageError(f"--dtype {dtype} is not supported on {device} by torch "
                         f"{torch.__version__}: {first_line(exc)}") from None


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, Python's MemoryError, or the CPU allocator's message."""
    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text
                                              or "can't allocate memory" in text)


def release(device: str) -> None:
    """Give back what a failed or finished row held."""
    gc.collect()
    if device.startswith("cuda") and torch.cuda.is_available():
        torch.cuda.empty_cache()


# -- what is timed ---------------------------------------------------------------------------
@dataclass
class Target:
    """One model to time: its layer graph (the static counts) and how to build the module."""
    label: str
    graph: Graph
    impl: str
    reference: str                      # what runs: "cnnstat graph" or "torchvision:NAME"
    build: Callable[[str], nn.Module]   # build(device) -> module in eval mode, fp32
    notes: tuple[str, ...] = ()


def resolve_target(model: Any, impl: str = "graph", *, input: Any = None, set: Any = None,
                   variant: str | None = None, args: dict | None = None) -> Target:
    from ..models import resolve_graph
    if impl not in IMPLS:
        raise UsageError(f"--impl '{impl}': choose {' or '.join(IMPLS)}")
    graph = resolve_graph(model, input=input, set=set, variant=variant, args=args)
    label = model if isinstance(model, str) else graph.name
    if impl == "torchvision":
        from ..torch_bridge.against import build_torchvision, torchvision_name
        if args:
            raise UsageError("--impl torchvision builds torchvision's model with its defaults; "
                             "--arg is for the graph built from an imported model")
        name = model.split(":", 1)[1] if isinstance(model, str) and \
            model.startswith("torchvision:") else None
        tv = torchvision_name(graph.name, name)
        return Target(label, graph, impl, f"torchvision:{tv}",
                      lambda device: build_torchvision(tv, device=device).eval(),
                      (f"timed torchvision's {tv}; counts from cnnstat's {graph.name}",))
    missing = sorted({n.attrs.get("what", "?") for n in graph if n.op == "not_counted"})
    if missing:
        raise UsageError(f"{label} has layers cnnstat cannot reproduce in torch "
                         f"({', '.join(missing)}): their stand-ins return zeros, so timing the "
                         "graph would not time the model; use --impl torchvision for a "
                         "torchvision model")

    def build(device: str) -> nn.Module:
        from ..torch_bridge.build import build_module
        return build_module(graph, seed=0, device=device).eval()
    return Target(label, graph, impl, "cnnstat graph", build)


def prepare(module: nn.Module, device: str, dtype: str, channels_last: bool) -> nn.Module:
    module = module.to(device=device, dtype=DTYPES[dtype])
    if channels_last:
        module = module.to(memory_format=torch.channels_last)
    return module.eval()


def example_input(graph: Graph, batch: int, device: str, dtype: str, channels_last: bool,
                  seed: int = 0) -> torch.Tensor:
    shape = (batch,) + tuple(graph.input_shape)
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=generator).to(device=device, dtype=DTYPES[dtype])
    if channels_last and x.dim() == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


def compiled(module: nn.Module) -> Callable:
    """``torch.compile`` (default backend, inductor); compilation happens at the first call,
    inside the warm-up, where a failure is caught per row."""
    try:
        return torch.compile(module)
    except Exception as exc:            # e.g. an unsupported Python or platform
        raise CompileError(f"torch.compile is unavailable: {first_line(exc)}") from None


class CompileError(CnnstatError):
    """torch.compile could not compile or run the model (reported for the row)."""


# -- clocks and memory -------------------------------------------------------------------------
CLOCKS = ("events", "sync")


def make_clock(device: str, cuda_timing: str = "events") -> Clock:
    """CPU: the host clock. CUDA: events around each iteration (default) or a synchronization
    around each (``sync``); see cnnstat.timing.loop."""
    if not device.startswith("cuda"):
        return HostClock()
    dev = torch.device(device)

    def sync() -> None:
        torch.cuda.synchronize(dev)
    if cuda_timing == "sync":
        return SyncClock(sync)
    if cuda_timing != "events":
        raise UsageError(f"--cuda-timing '{cuda_timing}': choose events or sync")
    return EventClock(lambda: torch.cuda.Event(enable_timing=True), sync)


def make_memory(device: str):
    return CudaMemory(torch, torch.device(device)) if device.startswith("cuda") else RssMemory()
