"""The only part of cnnstat that imports torch: building nn.Modules from layer graphs, measuring
real modules with hooks, and running third-party counters (fvcore, FlopCounterMode)."""
