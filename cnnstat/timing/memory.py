"""Peak memory of a measured run (the timed iterations; the probe starts after the warm-up, so
first-call allocations, autotuning and compilation are not counted).

- CUDA: ``torch.cuda.reset_peak_memory_stats`` before the run; the peak is
  ``torch.cuda.max_memory_allocated`` (bytes held in tensors by PyTorch's caching allocator, at
  its highest), and the growth is that peak minus what was allocated before the run (weights and
  input): the activations and workspaces the forward pass needs.
- CPU: resident-set size (RSS) of the process. On Linux the kernel's high-water mark VmHWM is
  reset before the run (``echo 5 > /proc/self/clear_refs``) and read after it, so the peak is the
  true peak RSS during the run; freed heap is first returned to the system (glibc
  ``malloc_trim(0)``) so that memory kept from an earlier, larger run is not counted as free.
  The growth is the peak minus the RSS before the run. Elsewhere, ``resource.getrusage``'s
  ``ru_maxrss`` (the peak over the process's life) is used; the method is recorded with the figure.

Nothing here imports torch at import time.
"""

from __future__ import annotations

import gc
import os
import re
import sys
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class MemoryUse:
    peak_bytes: int | None       # CUDA: max allocated; CPU: peak RSS of the process
    growth_bytes: int | None     # peak minus the figure before the run
    method: str

    def to_dict(self) -> dict:
        return {"peak_bytes": self.peak_bytes, "growth_bytes": self.growth_bytes,
                "method": self.method}


class CudaMemory:
    """Allocator statistics of one CUDA device (``torch`` passed in, so tests can fake it)."""

    def __init__(self, torch: Any, device: Any):
        self._torch = torch
        self._device = device
        self._before = 0

    def begin(self) -> None:
        cuda = self._torch.cuda
        cuda.synchronize(self._device)
        cuda.reset_peak_memory_stats(self._device)
        self._before = int(cuda.memory_allocated(self._device))

    def end(self) -> MemoryUse:
        cuda = self._torch.cuda
        cuda.synchronize(self._device)
        peak = int(cuda.max_memory_allocated(self._device))
        return MemoryUse(peak, peak - self._before, "cuda max_memory_allocated")


_STATUS = "/proc/self/status"
_CLEAR_REFS = "/proc/self/clear_refs"


def _status_kib(field: str) -> int | None:
    try:
        with open(_STATUS, encoding="ascii") as handle:
            match = re.search(rf"^{field}:\s+(\d+)\s+kB", handle.read(), re.MULTILINE)
    except OSError:
        return None
    return int(match.group(1)) * 1024 if match else None


def _trim_heap() -> None:
    """Return freed heap pages to the system (glibc only; a no-op elsewhere)."""
    gc.collect()
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class RssMemory:
    """Peak resident-set growth of this process during a run."""

    def __init__(self):
        self._before = 0
        self._method = ""

    def begin(self) -> None:
        _trim_heap()
        rss = _status_kib("VmRSS")
        if rss is not None and self._reset_hwm():
            self._before, self._method = rss, "peak RSS (Linux VmHWM, reset before the run)"
            return
        self._before = _maxrss()
        self._method = "peak RSS (getrusage ru_maxrss: lifetime peak; growth only when exceeded)"

    @staticmethod
    def _reset_hwm() -> bool:
        try:
            with open(_CLEAR_REFS, "w", encoding="ascii") as handle:
                handle.write("5")
            return True
        except OSError:
            return False

    def end(self) -> MemoryUse:
        if self._method.startswith("peak RSS (Linux"):
            peak = _status_kib("VmHWM")
            if peak is not None:
                return MemoryUse(peak, max(peak - self._before, 0), self._method)
        peak = _maxrss()
        return MemoryUse(peak, max(peak - self._before, 0), self._method)


def _maxrss() -> int:
    import resource
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(value) if sys.platform == "darwin" else int(value) * 1024   # macOS: bytes


def current_rss() -> int | None:
    return _status_kib("VmRSS") if os.path.exists(_STATUS) else None
