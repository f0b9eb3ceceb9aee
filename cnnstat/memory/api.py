"""One entry point for ``cnnstat memory`` and ``Analysis.memory(...)``: the options checked,
the step estimated, and the largest batches found when a capacity is given."""

from __future__ import annotations

from typing import Any

from ..errors import UsageError
from .fit import device_memory, fits, parse_capacity
from .model import MemoryOptions, MemoryReport, estimate, for_mode, with_batch


def memory(analysis: Any, *, train: bool = False, optimizer: str = "adamw", dtype: str = "fp32",
           amp: bool = False, master_weights: bool = False,
           checkpoint: int | str | list[str] | tuple[str, ...] | None = None,
           device: str = "cuda", batch: int | None = None, fit: int | str | None = None,
           device_profile: str | None = None) -> MemoryReport:
    """The :class:`MemoryReport` of ``analysis`` (at ``batch`` if given), ``fit`` attached."""
    if not isinstance(train, bool):
        raise UsageError(f"train must be True or False, got {train!r}")
    if checkpoint is not None and not train:
        raise UsageError("--checkpoint needs --train (checkpointing trades saved activations "
                         "for recomputation in backward)")
    if isinstance(checkpoint, str) and checkpoint.strip().lstrip("-").isdigit():
        checkpoint = int(checkpoint)
    elif isinstance(checkpoint, str):
        checkpoint = tuple(b.strip() for b in checkpoint.split(",") if b.strip())
    elif isinstance(checkpoint, list):
        checkpoint = tuple(checkpoint)
    if fit is not None and device_profile is not None:
        raise UsageError("give --fit SIZE or --device-profile NAME, not both")
    capacity = parse_capacity(fit) if fit is not None else None
    title = None
    if device_profile is not None:
        capacity, title = device_memory(device_profile)
    options = MemoryOptions(train=train, optimizer=optimizer, dtype=dtype, amp=amp,
                            master_weights=master_weights, checkpoint=checkpoint,
                            device=device).validated()
    if batch is not None and batch != analysis.batch:
        analysis = with_batch(analysis, batch)
    report = estimate(for_mode(analysis, train), options)
    if capacity is not None:
        report.fit = fits(analysis, capacity, options, device=title)
    return report
