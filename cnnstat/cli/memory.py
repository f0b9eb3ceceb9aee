"""``cnnstat memory``: training and inference memory per layer, the peak of one step, and the
largest batch that fits (docs/memory.md). Static: no torch."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import (ArgOpt, BatchOpt, Format, FormatOpt, InputOpt, ModelArg, OutOpt, SetOpt,
                  VariantOpt, app, console, emit)

StepOpt = Annotated[bool, typer.Option(
    "--train", help="A training step (forward, loss, backward, optimizer step) in training mode: "
                    "layers that run only in training (auxiliary classifiers) run too. Default: "
                    "inference (no gradients).")]
OptimizerOpt = Annotated[str, typer.Option(
    "--optimizer", help="With --train: sgd, momentum, adam or adamw (its state per parameter: "
                        "0, 1, 2, 2).")]
MemDtypeOpt = Annotated[str, typer.Option(
    "--dtype", help="fp32, bf16 or fp16: the parameters' and activations' dtype; with --amp the "
                    "dtype autocast runs eligible operators in (parameters stay fp32).")]
AmpOpt = Annotated[bool, typer.Option("--amp", help="torch.autocast at --dtype (bf16 or fp16).")]
MasterOpt = Annotated[bool, typer.Option(
    "--master-weights", help="Low-precision parameters with a float32 master copy and float32 "
                             "optimizer state (Apex O2, DeepSpeed).")]
CheckpointOpt = Annotated[Optional[str], typer.Option(
    "--checkpoint", help="Activation checkpointing per block: N (the runs of layers sharing their "
                         "first N name levels; 1: top-level blocks) or block names "
                         "(layer1,layer2). Adds the checkpointed blocks' forward MACs again.")]
FitOpt = Annotated[Optional[str], typer.Option(
    "--fit", help="A memory size (80GiB, 24GB, 16384MiB): the largest batch that fits, for "
                  "inference and for a training step, and what limits each.")]
DeviceOpt = Annotated[Optional[str], typer.Option(
    "--device-profile", help="A built-in GPU (h100, a100, l4, t4, ...): --fit its memory.")]
PlotOpt = Annotated[Optional[str], typer.Option(
    "--plot", "-p", help="Also write the per-layer chart (saved activations against parameters, "
                         "gradients, optimizer state) to this file: .png or .svg.")]
TimelineOpt = Annotated[Optional[str], typer.Option(
    "--timeline", help="Also write the live bytes over the step (forward, backward, optimizer "
                       "step, by kind) to this file: .png or .svg.")]
KindOpt = Annotated[str, typer.Option(
    "--device", help="Whose kernels' behaviour to model: cuda (default) or cpu.")]


@app.command("memory")
def memory(
    model: ModelArg,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    train: StepOpt = False,
    optimizer: OptimizerOpt = "adamw",
    dtype: MemDtypeOpt = "fp32",
    amp: AmpOpt = False,
    master_weights: MasterOpt = False,
    checkpoint: CheckpointOpt = None,
    fit: FitOpt = None,
    device_profile: DeviceOpt = None,
    device: KindOpt = "cuda",
    plot: PlotOpt = None,
    timeline: TimelineOpt = None,
    format: FormatOpt = Format.table,
    out: OutOpt = None,
    arg: ArgOpt = None,
) -> None:
    """Memory of inference or of a training step (--train): parameters, gradients, optimizer
    state, activations saved for backward per layer, and the peak over the step; with --fit or
    --device-profile, the largest batch that fits and what limits it."""
    from .. import analyze
    from .report import _plot_file, _write_plot
    plot, timeline = _plot_file(plot), _plot_file(timeline, "--timeline")
    from ..memory.api import memory as estimate_memory
    from ..models import parse_args
    from ..render import memory as render
    a = analyze(model, input, batch=batch, set=set_, variant=variant, args=parse_args(arg),
                train=train)
    report = estimate_memory(a, train=train, optimizer=optimizer, dtype=dtype, amp=amp,
                             master_weights=master_weights, checkpoint=checkpoint, device=device,
                             fit=fit, device_profile=device_profile)
    if format is Format.json:
        emit(render.to_json(report, report.fit), out)
    elif format is Format.csv:
        emit(render.to_csv(report), out)
    elif format is Format.md or out:
        emit(render.to_markdown(report, report.fit), out)
    else:
        console().print(render.render(report, report.fit))
    if plot or timeline:
        from .. import plots
        for path, draw in ((plot, plots.memory_layers_figure),
                           (timeline, plots.memory_timeline_figure)):
            if path:
                _write_plot(draw(report), path)
