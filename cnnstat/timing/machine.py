"""The machine a measurement ran on, recorded with every benchmark report: CPU model and cores,
the threads torch used, the GPU, library versions, and the load average (the machine may be
shared: a load above the core count means the timings competed with other work)."""

from __future__ import annotations

import os
import platform
import sys
from datetime import datetime, timezone
from typing import Any


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def physical_cores() -> int | None:
    """Distinct (physical id, core id) pairs in /proc/cpuinfo; None where unknown."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    cores = set()
    for block in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        if "core id" in fields:
            cores.add((fields.get("physical id", "0"), fields["core id"]))
    return len(cores) or None


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


def machine_info(device: str = "cpu") -> dict[str, Any]:
    """Everything that decides how fast a model runs here (imports torch)."""
    import torch
    from ..version import __version__
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info: dict[str, Any] = {
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": physical_cores(),
        "usable_cores": usable,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "load_average_1_5_15min": load_average(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "cnnstat": __version__,
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
        "device": device,
    }
    try:
        import torchvision
        info["torchvision"] = torchvision.__version__
    except ImportError:                     # pragma: no cover - torchvision is a dependency
        pass
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        info.update({
            "gpu": torch.cuda.get_device_name(index),
            "gpu_memory_bytes": int(props.total_memory),
            "gpu_capability": f"{props.major}.{props.minor}",
            "gpu_count": torch.cuda.device_count(),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
            "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
            "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        })
    return info


def describe(info: dict[str, Any]) -> str:
    """One line: 'Intel Xeon (2 cores, 2 threads), torch 2.14.1' or the GPU's name."""
    threads = info.get("torch_threads")
    cores = info.get("usable_cores") or info.get("logical_cores")
    text = (f"{info.get('cpu')} ({cores} cores usable, torch on {threads} "
            f"thread{'' if threads == 1 else 's'})")
    if info.get("gpu"):
        text = f"{info['gpu']} (CUDA {info.get('cuda')}), host {text}"
    return text + f", torch {info.get('torch')}"


def title(info: dict[str, Any]) -> str:
    """Short: the GPU's name, or the CPU's with the thread count."""
    if info.get("gpu"):
        return str(info["gpu"])
    threads = info.get("torch_threads")
    return f"{info.get('cpu')}, {threads} thread{'' if threads == 1 else 's'}"


def machine_slug(info: dict[str, Any]) -> str:
    """A folder name for reports: the GPU's or the CPU's name, lower case, dashes."""
    import re
    name = info.get("gpu") or info.get("cpu") or "machine"
    name = re.sub(r"\((R|TM)\)|\bCPU\b|\bProcessor\b|@.*$", "", name, flags=re.IGNORECASE)
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if not info.get("gpu"):
        slug += f"-{info.get('usable_cores') or info.get('logical_cores')}c"
    return slug or "machine"
