"""Timing real models: latency and throughput on CPU and GPU (``cnnstat bench``).

- ``loop``: the timing loop (warm-up by time, adaptive rounds), clocks for host, CUDA events and
  synchronization — no torch, testable with a fake clock;
- ``stats``: median, p10, p90, IQR of per-iteration latencies;
- ``memory``: peak memory (CUDA allocator peak; resident-set growth on the CPU);
- ``machine``: the machine a measurement ran on;
- ``runner``: which module is timed and how it is prepared (imports torch);
- ``sweep``: models × dtypes × memory formats × batch sizes, faults kept per row;
- ``agreement``: cnnstat's median against ``torch.utils.benchmark.Timer``;
- ``probe``: a measured device profile (matmul and copy probe) for the roofline;
- ``report``: tables, CSV, JSON and the report folder.

Importing this package imports no torch; the modules that need it import it themselves.
docs/timing.md describes the method and every convention.
"""
