"""A measured device profile (``cnnstat device-profile``): this machine's attainable peaks, from
three short probes timed with cnnstat's own loop (cnnstat.timing.loop):

- matrix peak per dtype: square matmuls C = A·B of n×n, n = 256, 512, … (doubling while one
  product takes under ~50 ms, up to 2048 on the CPU, 8192 on a GPU); a product is n³
  multiply-adds, 2n³ FLOPs (cnnstat.convention.flops); the profile keeps the best median rate. On a GPU with TF32 Tensor Cores, fp32 is measured twice:
  with ``torch.backends.cuda.matmul.allow_tf32`` off (the fp32 figure, CUDA cores) and on (tf32).
- vector peak: the fp32 matmul rate without TF32 (on a CPU both use the same SIMD units; on a GPU
  the CUDA cores), the rate assumed for element-wise work;
- bandwidth: ``dst.copy_(src)`` of a buffer much larger than the caches (256 MiB on the CPU,
  1 GiB on a GPU); bytes moved = 2 × size (one read, one write) per copy;
- launch overhead: one call of a tiny module (``nn.ReLU`` on one element), what every layer of
  an eager model pays before its work starts (on a GPU, timed with events back to back: the host
  cannot launch faster than that, so each interval is the host's time per call).

The figures are medians on this machine as loaded when measured: the machine, thread count and
load average are stored with the profile (cnnstat.roofline.profiles caches it).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..convention import flops
from ..roofline.profiles import LOCAL, LOCAL_CUDA, DeviceProfile
from .loop import time_iterations
from .machine import machine_info, title
from .runner import DTYPES, check_dtype, make_clock, resolve_device
from .stats import median

SLOW_PRODUCT_S = 0.05


def _rate(step: Callable[[], object], clock, work: float, min_time_s: float) -> float:
    timing = time_iterations(step, clock, warmup_s=min(0.1, min_time_s), min_time_s=min_time_s,
                             min_iters=3)
    return work / median(timing.times)


def matmul_peak(device: str, dtype: str, *, min_time_s: float = 0.2, sizes=None,
                progress: Callable[[str], None] | None = None) -> tuple[float, int]:
    """Best attained FLOP/s of n×n matmuls at ``dtype``, and the n that reached it."""
    clock = make_clock(device)
    gpu = device.startswith("cuda")
    sizes = sizes or ([1024, 2048, 4096, 8192] if gpu else [256, 512, 1024, 2048])
    best, best_n = 0.0, 0
    generator = torch.Generator().manual_seed(0)
    for n in sizes:
        a = torch.randn(n, n, generator=generator).to(device=device, dtype=DTYPES[dtype])
        b = torch.randn(n, n, generator=generator).to(device=device, dtype=DTYPES[dtype])
        if progress:
            progress(f"matmul {dtype} {n}×{n}")
        work = float(flops(n ** 3))          # n³ multiply-adds
        rate = _rate(lambda: torch.mm(a, b), clock, work, min_time_s)
        if rate > best:
            best, best_n = rate, n
        del a, b
        if work / rate > SLOW_PRODUCT_S:       # the next size would take 8× longer
            break
    return best, best_n


def copy_bandwidth(device: str, *, size: int | None = None, min_time_s: float = 0.3) -> float:
    """Bytes/s of ``dst.copy_(src)``: 2 × size bytes move per copy (read + write)."""
    size = size or (2 ** 30 if device.startswith("cuda") else 256 * 2 ** 20)
    src = torch.empty(size, dtype=torch.uint8, device=device)
    src.fill_(1)
    dst = torch.empty_like(src)
    try:
        return _rate(lambda: dst.copy_(src), make_clock(device), 2.0 * size, min_time_s)
    finally:
        del src, dst


def launch_overhead(device: str, *, min_time_s: float = 0.2) -> float:
    """Seconds per call of a tiny module (nn.ReLU on one element)."""
    module = nn.ReLU()
    x = torch.zeros(1, device=device)
    with torch.inference_mode():
        timing = time_iterations(lambda: module(x), make_clock(device), warmup_s=0.05,
                                 min_time_s=min_time_s, min_iters=50)
    return median(timing.times)


def measure_profile(device: str = "cpu", dtypes: tuple[str, ...] = ("fp32", "bf16", "fp16"), *,
                    min_time_s: float = 0.2, sizes: list[int] | None = None,
                    copy_size: int | None = None,
                    progress: Callable[[str], None] | None = None) -> DeviceProfile:
    """Measure this machine's profile (module docstring); nothing is cached here. ``sizes`` and
    ``copy_size`` override the probe sizes (tests use small ones)."""
    device = resolve_device(device)
    gpu = device.startswith("cuda")
    matrix: dict[str, float] = {}
    best: dict[str, int] = {}        # dtype → the matmul size that reached the peak
    skipped: list[str] = []
    with torch.inference_mode():
        for dtype in dtypes:
            try:
                check_dtype(device, dtype)
            except Exception as exc:        # a dtype the device lacks is left out, with why
                skipped.append(f"{dtype}: {exc}")
                continue
            if gpu and dtype == "fp32":
                previous = torch.backends.cuda.matmul.allow_tf32
                try:
                    torch.backends.cuda.matmul.allow_tf32 = False
                    matrix["fp32"], best["fp32"] = matmul_peak(device, "fp32",
                                                                min_time_s=min_time_s,
                                                                sizes=sizes, progress=progress)
                    if torch.cuda.get_device_capability(torch.device(device))[0] >= 8:
                        torch.backends.cuda.matmul.allow_tf32 = True
                        matrix["tf32"], best["tf32"] = matmul_peak(device, "fp32",
                                                                    min_time_s=min_time_s,
                                                                    sizes=sizes,
                                                                    progress=progress)
                finally:
                    torch.backends.cuda.matmul.allow_tf32 = previous
            else:
                matrix[dtype], best[dtype] = matmul_peak(device, dtype, min_time_s=min_time_s,
                                                         sizes=sizes, progress=progress)
        if "fp32" not in matrix:
            matrix["fp32"], best["fp32"] = matmul_peak(device, "fp32", min_time_s=min_time_s,
                                                       sizes=sizes, progress=progress)
        if progress:
            progress("copy bandwidth")
        bandwidth = copy_bandwidth(device, size=copy_size, min_time_s=max(min_time_s, 0.3))
        if progress:
            progress("launch overhead")
        overhead = launch_overhead(device, min_time_s=min_time_s)
    info = machine_info(device)
    measured = {"date_utc": info["date_utc"], "machine": info, "device": device,
                "matmul_sizes": best, "skipped_dtypes": skipped,
                "copy_bytes": copy_size or (2 ** 30 if gpu else 256 * 2 ** 20),
                "method": "median rates of n×n matmuls (best n), dst.copy_(src) of copy_bytes, "
                          "one tiny module call"}
    return DeviceProfile(name=LOCAL_CUDA if gpu else LOCAL, title=title(info), matrix=matrix,
                         vector=matrix["fp32"], bandwidth=bandwidth, launch_overhead=overhead,
                         source=f"measured by cnnstat device-profile on {info['date_utc']}",
                         notes="; ".join(skipped), measured=measured)
