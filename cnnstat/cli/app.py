"""The typer application, shared options, output helpers and the error boundary."""

from __future__ import annotations

import sys
from enum import Enum
from typing import Annotated, Optional

import typer

from ..errors import CnnstatError

app = typer.Typer(
    name="cnnstat",
    help="Analyze convolutional neural network architectures: shapes, parameters, connections, "
         "MACs/FLOPs, memory and receptive fields — statically, from a definition, a zoo model "
         "or an imported model.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",   # docstrings reflow: single newlines join, blank lines split
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Format(str, Enum):
    table = "table"
    md = "md"
    csv = "csv"
    json = "json"


class Layout(str, Enum):
    nchw = "nchw"
    nhwc = "nhwc"


ModelArg = Annotated[str, typer.Argument(
    help="A zoo model (see 'cnnstat list'), a definition file (.yaml), or an existing model: "
         "torchvision:NAME, file.py:Name, package.module:factory, model.onnx, deploy.prototxt.",
    show_default=False)]
InputOpt = Annotated[Optional[str], typer.Option(
    "--input", "-i", help="Input size: 224, 160x224 (HxW) or 3x224x224. Default: the model's.")]
BatchOpt = Annotated[int, typer.Option("--batch", "-b", help="Batch size (scales MACs and memory).")]
SetOpt = Annotated[Optional[list[str]], typer.Option(
    "--set", "-s", help="Override a variable of the definition: --set alpha=0.5 (repeatable).")]
VariantOpt = Annotated[Optional[str], typer.Option(
    "--variant", help="Variant of a definition file with several (zoo names already are one).")]
FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]
ArgOpt = Annotated[Optional[list[str]], typer.Option(
    "--arg", "-a", help="Argument of an imported model's builder (torchvision:NAME, file.py:Name, "
                        "module:factory): --arg num_classes=10 (repeatable).")]
DepthOpt = Annotated[Optional[int], typer.Option(
    "--depth", "-d", min=1, help="Collapse blocks deeper than N name levels into one row.")]
LayoutOpt = Annotated[Layout, typer.Option("--layout", help="Shape display: nchw or nhwc.")]
CountOpt = Annotated[Optional[str], typer.Option(
    "--count", help="Also count these kinds in MACs: bias,norm,activation,pool,elementwise,resize "
                    "or all. Default: convolution and linear multiply-adds only.")]
DtypeOpt = Annotated[str, typer.Option("--dtype", help="Element type for memory: fp32, fp16, bf16, int8.")]
TrainOpt = Annotated[bool, typer.Option(
    "--train", help="Training mode: count the layers that run only in training (auxiliary "
                    "classifiers). Default: inference, as torch's eval mode runs the model (they "
                    "are listed, marked [train], and their parameters count).")]
OutOpt = Annotated[Optional[str], typer.Option(
    "--out", "-o", help="Write to this file (atomically) instead of standard output.")]


def emit(text: str, out: str | None = None) -> None:
    """Print text, or write it atomically to a file."""
    if out:
        from ..fileio import atomic_write
        atomic_write(out, text)
        print(f"wrote {out}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def console():
    from rich.console import Console
    # Wide enough for layer descriptions when the output is not a terminal.
    return Console(width=None if sys.stdout.isatty() else 200, highlight=False)


def run(argv: list[str]) -> int:
    """Run the app with an error boundary: one line, exit status 2, no traceback."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="cnnstat", standalone_mode=False)
    except CnnstatError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as exc:  # typer's (click's) usage errors and aborts
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            message = " ".join(str(exc.format_message()).split())
            print(f"error: {message}", file=sys.stderr)
            return 2 if exc.exit_code in (None, 1, 2) else int(exc.exit_code)
        raise
    if isinstance(result, int):
        return result
    return 0
