"""The static commands: summary, params, shapes, flops, rf, list. None of them imports torch."""

from __future__ import annotations

from .app import (MODEL, MODEL_OPTIONS, OUTPUT, VIEW, ModelOptions, Opt, command, output_options)


def show_view(args, view: str) -> None:
    from ..render.output import show
    from ..render.views import layer_view
    a = ModelOptions.of(args).analyze(args.model)
    show(layer_view(a, view, args.depth, args.layout), output_options(args))


@command("summary", MODEL, MODEL_OPTIONS, VIEW, OUTPUT)
def summary(args) -> None:
    """Per-layer output shape, parameters, MACs and receptive field, with totals."""
    show_view(args, "summary")


@command("params", MODEL, MODEL_OPTIONS, VIEW, OUTPUT)
def params(args) -> None:
    """Parameters per layer, each layer printed as PyTorch prints its module."""
    show_view(args, "params")


@command("flops", MODEL, MODEL_OPTIONS, VIEW, OUTPUT)
def flops(args) -> None:
    """MACs and FLOPs per layer under the stated convention (--count adds kinds)."""
    show_view(args, "flops")


AT = Opt("at", ("--at",), metavar="LAYER[:ROW,COL]", help=(
    "Instead of the table, the exact input rows and columns one unit of LAYER depends on "
    "(default: its centre unit), traced back through every layer; exact also after upsampling "
    "and transposed convolutions, where the per-layer field is an envelope."))


@command("rf", MODEL, MODEL_OPTIONS, VIEW, OUTPUT, AT)
def rf(args) -> None:
    """Receptive field per layer: size, effective stride and effective padding; or, with --at,
    the exact field of one unit."""
    if args.at is None:
        show_view(args, "rf")
        return
    from ..render.output import show
    from ..render.views import unit_view
    a = ModelOptions.of(args).analyze(args.model)
    layer, unit = parse_at(args.at)
    show(unit_view(a, a.unit_field(layer, unit)), output_options(args))


@command("shapes", MODEL.but(nargs="?", help="A model; without one, every zoo model is "
                                               "tabulated at --input."),
         MODEL_OPTIONS, VIEW, OUTPUT)
def shapes(args) -> None:
    """Output shape and activation memory per layer; without MODEL, every zoo model at --input
    (read against each model's input rank: 224 is 224×224 for images, a length for 1-D models;
    3-D models take D×H×W)."""
    if args.model is not None:
        show_view(args, "shapes")
        return
    from ..errors import UsageError
    from ..model_options import parse_input
    from ..render.output import show
    from ..render.views import survey_view
    from ..survey import survey
    if args.input is None:
        raise UsageError("without a MODEL, 'cnnstat shapes' needs --input (e.g. --input 224)")
    if args.set or args.variant or args.arg:
        raise UsageError("--set, --variant and --arg need a MODEL")
    size = parse_input(args.input)
    show(survey_view(survey(size), str(size).replace("x", "×")), output_options(args))


@command("list", OUTPUT)
def list_models(args) -> None:
    """The zoo: every model family with its year, paper, variants, input and reference numbers."""
    from ..catalog import families
    from ..render.output import show
    from ..render.views import zoo_view
    show(zoo_view(families()), output_options(args))


def parse_at(text: str) -> tuple[str, tuple[int, ...] | None]:
    """``LAYER`` or ``LAYER:I,J,...`` (the --at option: one index per spatial axis, ROW,COL for an
    image) → (layer, unit or None)."""
    layer, sep, where = text.rpartition(":") if ":" in text else (text, "", "")
    if not sep:
        return text.strip(), None
    try:
        unit = tuple(int(v) for v in where.split(","))
    except ValueError:
        from ..errors import UsageError
        raise UsageError(f"--at '{text}': write LAYER or LAYER:ROW,COL (one index per axis: "
                         "LAYER:I for a 1-D map, LAYER:D,ROW,COL for a 3-D one), e.g. --at "
                         "out:0,0") from None
    return layer.strip(), unit
