"""``cnnstat check``: the static numbers against the running model, or a definition against
torchvision's implementation. torch is imported inside the command only."""

from __future__ import annotations

from .app import (ARG, BATCH, INPUT, MODEL, OUTPUT, SET, TRAIN, VARIANT, ModelOptions, Opt,
                  command, integer, output_options)

DEVICE = Opt("device", ("--device",), metavar="DEVICE", help=(
    "cpu, cuda or meta (shapes and counts without allocating activations). "
    "Default: cpu; with --against: meta."))
AGAINST = Opt("against", ("--against",), metavar="torchvision[:NAME]", help=(
    "Compare the definition with torchvision's implementation instead: torchvision or "
    "torchvision:NAME (default NAME: the model's)."))
AGAINST_ARG = Opt("against_arg", ("--against-arg",), action="append", metavar="NAME=VALUE", help=(
    "Argument of torchvision's builder with --against: --against-arg width_mult=0.5 "
    "(repeatable)."))
SEED = Opt("seed", ("--seed",), default=0, type=integer("--seed"), metavar="N",
           help="Seed of the random weights and input.")
DIFFERENCES = Opt("differences", ("--differences",), action="flag",
                  help="List only the layers that differ.")


@command("check", MODEL, INPUT, BATCH, SET, VARIANT, ARG, TRAIN, DEVICE, AGAINST, AGAINST_ARG,
         SEED, DIFFERENCES, OUTPUT)
def check_command(args) -> int:
    """Run the model in torch and compare, layer by layer, output shapes and parameters with the
    static analysis and conv/linear MACs with fvcore and FlopCounterMode (converted to cnnstat's
    convention); or, with --against torchvision, compare the definition with torchvision's
    network: totals, then every differing layer. Both run in eval mode, as the analysis counts;
    --train runs both in training mode.

    Exit status 0: all agree; 1: something differs."""
    from .. import limits
    from ..errors import UsageError
    from ..render import checks
    from ..render.output import show
    options = ModelOptions.of(args).kwargs("input", "batch", "set", "variant", "arg",
                                                "train")
    if args.against is not None:
        from ..torch_bridge.against import against_torchvision, parse_against
        name = parse_against(args.against)
        with limits.deadline(f"checking {args.model} against {args.against}"):
            report = against_torchvision(args.model, name, **options,
                                         against_args=args.against_arg,
                                         device=args.device or "meta", seed=args.seed)
        output = checks.against_view(report, args.differences)
    else:
        if args.against_arg:
            raise UsageError("--against-arg goes with --against torchvision")
        from ..torch_bridge.check import check
        with limits.deadline(f"checking {args.model} (building and running it in torch)"):
            report = check(args.model, **options, device=args.device or "cpu", seed=args.seed)
        output = checks.check_view(report, args.differences)
    show(output, output_options(args))
    return 0 if report.ok else 1
