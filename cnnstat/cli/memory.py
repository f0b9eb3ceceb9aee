"""``cnnstat memory``: training and inference memory per layer, the peak of one step, and the
largest batch that fits (docs/memory.md). Static: no torch."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from .app import (ArgOpt, BatchOpt, Format, FormatOpt, InputOpt, ModelArg, OutOpt, SetOpt,
                  VariantOpt, app, console, emit)

TrainOpt = Annotated[bool, typer.Option(
    "--train", help="A training step (forward, backward, optimizer step) instead of inference.")]
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
CheckpointOpt = Annotated[Optional[int], typer.Option(
    "--checkpoint", min=1, help="Activation checkpointing per block: blocks are the runs of "
                                "layers sharing their first N name levels (1: top-level blocks).")]
FitOpt = Annotated[Optional[str], typer.Option(
    "--fit", help="A memory size (80GiB, 24GB, 16384MiB): report the largest batch that fits.")]
DeviceOpt = Annotated[Optional[str], typer.Option(
    "--device-profile", help="A built-in GPU (h100, a100, l4, t4, ...): --fit its memory.")]
KindOpt = Annotated[str, typer.Option(
    "--device", help="Whose kernels' behaviour to model: cuda (default) or cpu.")]


@app.command("memory")
def memory(
    model: ModelArg,
    input: InputOpt = None,
    batch: BatchOpt = 1,
    set_: SetOpt = None,
    variant: VariantOpt = None,
    train: TrainOpt = False,
    optimizer: OptimizerOpt = "adamw",
    dtype: MemDtypeOpt = "fp32",
    amp: AmpOpt = False,
    master_weights: MasterOpt = False,
    checkpoint: CheckpointOpt = None,
    fit: FitOpt = None,
    device_profile: DeviceOpt = None,
    device: KindOpt = "cuda",
    format: FormatOpt = Format.table,
    out: OutOpt = None,
    arg: ArgOpt = None,
) -> None:
    """Memory of inference or of a training step (--train): parameters, gradients, optimizer
    state, activations saved for backward per layer, and the peak over the step; with --fit or
    --device-profile, the largest batch that fits and what limits it."""
    from .. import analyze
    from ..errors import UsageError
    from ..memory import MemoryOptions, estimate
    from ..memory.fit import device_memory, largest_batch, parse_capacity
    from ..models import parse_args
    from ..render import memory as render
    if checkpoint is not None and not train:
        raise UsageError("--checkpoint needs --train (checkpointing trades saved activations "
                         "for recomputation in backward)")
    if fit is not None and device_profile is not None:
        raise UsageError("give --fit SIZE or --device-profile NAME, not both")
    capacity = parse_capacity(fit) if fit is not None else None
    if device_profile is not None:
        capacity, _ = device_memory(device_profile)
    options = MemoryOptions(train=train, optimizer=optimizer, dtype=dtype, amp=amp,
                            master_weights=master_weights, checkpoint=checkpoint,
                            device=device).validated()
    a = analyze(model, input, batch=batch, set=set_, variant=variant, args=parse_args(arg))
    report = estimate(a, options)
    answer = largest_batch(a, capacity, options) if capacity is not None else None
    if format is Format.json:
        emit(render.to_json(report, answer), out)
    elif format is Format.csv:
        emit(render.to_csv(report), out)
    elif format is Format.md or out:
        emit(render.to_markdown(report, answer), out)
    else:
        console().print(render.render(report, answer))
