"""Roofline predictions from cnnstat's per-layer counts (no torch): ``model`` holds the bytes,
intensity and predicted time of each layer, ``profiles`` the device figures (built in, with
datasheet citations, or measured and cached). ``cnnstat roofline`` prints them; ``cnnstat bench``
shows the prediction beside the measurement. docs/timing.md states every convention."""

from __future__ import annotations

from .model import (BYTES_CONVENTION, COMPUTE, MEMORY, TIME_CONVENTION, VIEW, VIEW_OPS, LayerCost,
                    LayerPrediction, Prediction, layer_cost, predict)
from .profiles import (LOCAL, LOCAL_CUDA, DeviceProfile, all_profiles, builtin_profiles,
                       cache_path, cached_profiles, get_profile, match_gpu, save_profile)

__all__ = ["BYTES_CONVENTION", "TIME_CONVENTION", "COMPUTE", "MEMORY", "VIEW", "VIEW_OPS",
           "LayerCost", "LayerPrediction", "Prediction", "layer_cost", "predict", "DeviceProfile",
           "all_profiles", "builtin_profiles", "cached_profiles", "get_profile", "match_gpu",
           "save_profile", "cache_path", "LOCAL", "LOCAL_CUDA"]
