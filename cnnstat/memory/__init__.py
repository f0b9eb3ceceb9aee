"""Training and inference memory (docs/memory.md): parameters, gradients, optimizer state,
activations saved for backward and the peak over one step, from the per-layer records; the
largest batch that fits. Pure arithmetic: nothing here imports torch."""

from __future__ import annotations

from .model import (CATEGORIES, DTYPES, NOT_MODELLED, OPTIMIZERS, LayerMemory, MemoryOptions,
                    MemoryReport, Point, checkpoint_segments, estimate, with_batch)
from .saved import Context, NoRule, OpMemory, Saved

__all__ = ["estimate", "MemoryOptions", "MemoryReport", "LayerMemory", "Point",
           "checkpoint_segments", "with_batch", "OpMemory", "Saved", "Context", "NoRule",
           "OPTIMIZERS", "DTYPES", "CATEGORIES", "NOT_MODELLED"]
