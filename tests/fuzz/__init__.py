"""Differential fuzzing of whole layer graphs against torch (issue 8).

- ``graphs.py``: hypothesis strategies of random layer graphs (chains and DAGs with add, multiply
  and concat merges, parallel branches, squeeze-and-excitation gates), written as cnnstat YAML
  definitions; every layer's hyperparameters come from the per-operator cases of
  ``tests/strategies.py``, fitted to the tensor the layer receives.
- ``oracle.py``: what a definition must satisfy: if cnnstat accepts it, the torch module built from
  it (``cnnstat.torch_bridge.build``) agrees on every layer's output shape, parameters, buffers and
  multiply-adds (hooks, ``FlopCounterMode``, fvcore); if cnnstat rejects it, the error is one line
  naming the layer, and torch rejects that layer too.

Failing definitions shrink (hypothesis) and are saved under ``tests/regressions/``, where
``tests/test_fuzz_regressions.py`` replays them through the same oracle.
"""
