"""``cnnstat memory``: training and inference memory per layer, the peak of one step, and the
largest batch that fits (docs/memory.md). Static: no torch."""

from __future__ import annotations

from .app import (ARG, BATCH, DTYPE, INPUT, MODEL, OUTPUT, PLOT, SET, TRAIN, VARIANT,
                  ModelOptions, Opt, command, output_options)

STEP = TRAIN.but(help=(
    "A training step (forward, loss, backward, optimizer step) in training mode: layers that run "
    "only in training (auxiliary classifiers) run too. Default: inference (no gradients)."))
OPTIMIZER = Opt("optimizer", ("--optimizer",), default="adamw", metavar="NAME", help=(
    "With --train: sgd, momentum, adam or adamw (its state per parameter: 0, 1, 2, 2)."))
MEMORY_DTYPE = DTYPE.but(help=(
    "fp32, bf16 or fp16: the parameters' and activations' dtype; with --amp the dtype autocast "
    "runs eligible operators in (parameters stay fp32)."))
AMP = Opt("amp", ("--amp",), action="flag", default=False,
          help="torch.autocast at --dtype (bf16 or fp16).")
MASTER = Opt("master_weights", ("--master-weights",), action="flag", default=False, help=(
    "Low-precision parameters with a float32 master copy and float32 optimizer state (Apex O2, "
    "DeepSpeed)."))
CHECKPOINT = Opt("checkpoint", ("--checkpoint",), metavar="N|BLOCKS", help=(
    "Activation checkpointing per block: N (the runs of layers sharing their first N name "
    "levels; 1: top-level blocks) or block names (layer1,layer2). Adds the checkpointed blocks' "
    "forward MACs again."))
FIT = Opt("fit", ("--fit",), metavar="SIZE", help=(
    "A memory size (80GiB, 24GB, 16384MiB): the largest batch that fits, for inference and for "
    "a training step, and what limits each."))
DEVICE_PROFILE = Opt("device_profile", ("--device-profile",), metavar="NAME", help=(
    "A built-in GPU (h100, a100, l4, t4, ...): --fit its memory."))
KIND = Opt("device", ("--device",), default="cuda", metavar="KIND",
           help="Whose kernels' behaviour to model: cuda (default) or cpu.")
LAYERS_PLOT = PLOT.but(help=(
    "Also write the per-layer chart (saved activations against parameters, gradients, optimizer "
    "state) to this file: .png or .svg."))
TIMELINE = Opt("timeline", ("--timeline",), metavar="FILE", help=(
    "Also write the live bytes over the step (forward, backward, optimizer step, by kind) to this "
    "file: .png or .svg."))


@command("memory", MODEL, INPUT, BATCH, SET, VARIANT, ARG, STEP, OPTIMIZER, MEMORY_DTYPE, AMP,
         MASTER, CHECKPOINT, FIT, DEVICE_PROFILE, KIND, OUTPUT, LAYERS_PLOT, TIMELINE)
def memory(args) -> None:
    """Memory of inference or of a training step (--train): parameters, gradients, optimizer
    state, activations saved for backward per layer, and the peak over the step; with --fit or
    --device-profile, the largest batch that fits, for inference and for training, and what
    limits each."""
    from ..memory.api import memory as estimate_memory
    from ..render import memory as render
    from ..render.output import show
    from .report import _plot_file, _write_plot
    plot = _plot_file(args.plot, args.out)
    timeline = _plot_file(args.timeline, option="--timeline")
    a = ModelOptions.of(args, dtype="fp32", count=None).analyze(args.model)
    report = estimate_memory(a, train=args.train, optimizer=args.optimizer, dtype=args.dtype,
                             amp=args.amp, master_weights=args.master_weights,
                             checkpoint=args.checkpoint, device=args.device, fit=args.fit,
                             device_profile=args.device_profile)
    show(render.output(report), output_options(args))
    if plot or timeline:
        from .. import plots
        for path, draw in ((plot, plots.memory_layers_figure),
                           (timeline, plots.memory_timeline_figure)):
            if path:
                _write_plot(draw(report), path)
