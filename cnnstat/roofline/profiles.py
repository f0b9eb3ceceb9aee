"""Device profiles: peak FLOP/s by dtype, memory bandwidth and a per-layer launch overhead.

Two kinds, one structure (:class:`DeviceProfile`):

- built in: datasheet figures for common GPUs (``cnnstat/data/devices.yaml``, every figure cited);
- measured: this machine's own figures from a short matmul and copy probe
  (``cnnstat device-profile``, cnnstat.timing.probe), cached as JSON under the user's cache
  directory: ``$CNNSTAT_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/cnnstat``, else
  ``~/.cache/cnnstat``. Measured profiles are named ``local`` (the CPU) and ``local-cuda``.

Nothing here imports torch: a roofline with a built-in or cached profile is a static computation.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..cache import CACHE_ENV, cache_dir  # noqa: F401  (the user cache, shared)
from ..errors import CnnstatError, UsageError

TERA = 1e12
GIGA = 1e9
MICRO = 1e-6
CACHE_FILE = "device-profiles.json"
LOCAL = "local"            # the measured CPU profile
LOCAL_CUDA = "local-cuda"  # the measured profile of the first CUDA device
MATRIX_DTYPES = ("fp32", "tf32", "fp16", "bf16")


@dataclass(frozen=True)
class DeviceProfile:
    """Peaks in base units: FLOP/s, bytes/s, seconds."""
    name: str
    title: str
    matrix: dict[str, float]          # dtype → peak FLOP/s of conv/linear work
    vector: float                     # FLOP/s of element-wise work (any dtype)
    bandwidth: float                  # bytes/s
    launch_overhead: float            # seconds per launched layer
    source: str
    notes: str = ""
    match: tuple[str, ...] = ()
    measured: dict[str, Any] | None = None   # how and where a measured profile was measured

    @property
    def builtin(self) -> bool:
        return self.measured is None

    def matrix_peak(self, dtype: str, *, convolution: bool, tf32: bool) -> tuple[float, str]:
        """Peak FLOP/s of a layer's conv/linear work at ``dtype``, and the figure's name.

        PyTorch's defaults decide which unit runs fp32 work on a GPU with TF32 Tensor Cores:
        ``torch.backends.cudnn.allow_tf32`` is True (convolutions use TF32) and
        ``torch.backends.cuda.matmul.allow_tf32`` is False (linear layers and matmuls stay FP32).
        ``tf32=False`` predicts as if convolutions ran in full FP32 too."""
        dtype = canonical_dtype(dtype)
        if dtype == "fp32" and convolution and tf32 and "tf32" in self.matrix:
            return self.matrix["tf32"], "tf32"
        if dtype not in self.matrix:
            have = ", ".join(k for k in self.matrix if k != "tf32") or "none"
            why = f": {self.notes}" if self.notes else ""
            raise UsageError(f"device profile '{self.name}' has no {dtype} peak (it has {have})"
                             f"{why}")
        return self.matrix[dtype], dtype

    @property
    def ridge(self) -> float:
        """FLOP/byte where the fp32 (or first) matrix roof meets the bandwidth roof."""
        peak = self.matrix.get("fp32") or next(iter(self.matrix.values()))
        return peak / self.bandwidth

    def with_overhead(self, overhead_s: float | None) -> "DeviceProfile":
        if overhead_s is None:
            return self
        if overhead_s < 0:
            raise UsageError(f"--overhead-us must not be negative, got {overhead_s / MICRO:g}")
        return replace(self, launch_overhead=overhead_s)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "title": self.title,
                "matrix_flops": dict(self.matrix), "vector_flops": self.vector,
                "bandwidth_bytes_per_s": self.bandwidth, "launch_overhead_s": self.launch_overhead,
                "source": self.source, "notes": self.notes, "measured": self.measured}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "DeviceProfile":
        return cls(name=str(data["name"]), title=str(data["title"]),
                   matrix={str(k): float(v) for k, v in data["matrix_flops"].items()},
                   vector=float(data["vector_flops"]),
                   bandwidth=float(data["bandwidth_bytes_per_s"]),
                   launch_overhead=float(data["launch_overhead_s"]), source=str(data["source"]),
                   notes=str(data.get("notes") or ""), measured=data.get("measured"))


DTYPE_ALIASES = {"fp32": "fp32", "float32": "fp32", "float": "fp32", "fp16": "fp16",
                 "float16": "fp16", "half": "fp16", "bf16": "bf16", "bfloat16": "bf16"}


def canonical_dtype(dtype: str) -> str:
    key = str(dtype).strip().lower()
    if key not in DTYPE_ALIASES:
        from ..suggest import did_you_mean
        raise UsageError(f"--dtype '{dtype}'{did_you_mean(key, DTYPE_ALIASES)}: choose fp32, fp16 "
                         "or bf16")
    return DTYPE_ALIASES[key]


# -- built-in profiles (cnnstat/data/devices.yaml) ---------------------------------------------
@lru_cache(maxsize=1)
def builtin_profiles() -> dict[str, DeviceProfile]:
    from ..data import load
    out: dict[str, DeviceProfile] = {}
    for name, d in load("devices")["devices"].items():
        try:
            tflops = {canonical_dtype(k) if k != "tf32" else "tf32": float(v) * TERA
                      for k, v in d["tflops"].items()}
            out[str(name)] = DeviceProfile(
                name=str(name), title=str(d["title"]), matrix=tflops,
                vector=float(d["vector_tflops"]) * TERA,
                bandwidth=float(d["bandwidth_gbs"]) * GIGA,
                launch_overhead=float(d["launch_overhead_us"]) * MICRO,
                source=" ".join(str(d["source"]).split()),
                notes=" ".join(str(d.get("notes") or "").split()),
                match=tuple(str(m) for m in d.get("match") or ()))
        except (KeyError, TypeError, ValueError, CnnstatError) as exc:
            raise CnnstatError(f"cnnstat/data/devices.yaml: device '{name}': bad entry ({exc})") \
                from None
    return out


def match_gpu(device_name: str) -> DeviceProfile | None:
    """The built-in profile whose ``match`` names a word of ``device_name`` (e.g. the 'H200' of
    'NVIDIA H200'; 'L4' does not match 'L40S'), first in file order."""
    for profile in builtin_profiles().values():
        for pattern in profile.match:
            if re.search(r"(?<![A-Za-z0-9])" + re.escape(pattern) + r"(?![A-Za-z0-9])",
                         device_name, re.IGNORECASE):
                return profile
    return None


# -- measured profiles, cached -----------------------------------------------------------------
def cache_path() -> Path:
    return cache_dir() / CACHE_FILE


def cached_profiles() -> dict[str, DeviceProfile]:
    path = cache_path()
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {name: DeviceProfile.from_dict(entry) for name, entry in data.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"the cached device profiles in '{path}' cannot be read ({exc}); delete "
                         "the file and run cnnstat device-profile again") from None


def save_profile(profile: DeviceProfile) -> Path:
    """Add or replace one measured profile in the cache file (written atomically)."""
    from ..fileio import atomic_write
    path = cache_path()
    try:
        data = {n: p.to_dict() for n, p in cached_profiles().items()}
    except UsageError:                      # an unreadable cache is replaced
        data = {}
    data[profile.name] = profile.to_dict()
    return atomic_write(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def all_profiles() -> dict[str, DeviceProfile]:
    return {**builtin_profiles(), **cached_profiles()}


def get_profile(name: str) -> DeviceProfile:
    key = name.strip().lower()
    profiles = all_profiles()
    if key in profiles:
        return profiles[key]
    if key in (LOCAL, LOCAL_CUDA):
        device = "cuda" if key == LOCAL_CUDA else "cpu"
        raise UsageError(f"no measured profile '{key}' yet: run 'cnnstat device-profile --device "
                         f"{device}' first (cached in {cache_path()})")
    from ..suggest import did_you_mean
    raise UsageError(f"unknown device profile '{name}'{did_you_mean(key, profiles, 3)}; choose from "
                     f"{', '.join(profiles) or 'none'}, or measure this machine with "
                     "cnnstat device-profile")


def describe(profile: DeviceProfile) -> dict[str, str]:
    """Human figures of a profile (for tables)."""
    tera = max(list(profile.matrix.values()) + [profile.vector]) >= TERA

    def tf(v: float) -> str:
        return f"{v / TERA:.3g} TFLOP/s" if tera else f"{v / GIGA:.3g} GFLOP/s"
    order = [k for k in MATRIX_DTYPES if k in profile.matrix] + \
        [k for k in profile.matrix if k not in MATRIX_DTYPES]
    peaks = ", ".join(f"{k} {tf(profile.matrix[k])}" for k in order)
    return {"name": profile.name, "title": profile.title, "matrix": peaks,
            "vector": tf(profile.vector), "bandwidth": f"{profile.bandwidth / GIGA:.4g} GB/s",
            "overhead": f"{profile.launch_overhead / MICRO:.3g} µs",
            "kind": "built in" if profile.builtin else "measured"}


__all__ = ["DeviceProfile", "builtin_profiles", "cached_profiles", "save_profile", "get_profile",
           "all_profiles", "match_gpu", "cache_path", "canonical_dtype", "describe", "LOCAL",
           "LOCAL_CUDA"]
