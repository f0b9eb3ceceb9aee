"""The command line's one options surface, its command registry and its error boundary.

Every option is declared once, as an :class:`Opt`; the options many commands share are grouped
(``MODEL_OPTIONS``: --input, --batch, --set, --variant, --arg, --count, --dtype, --train; ``VIEW``:
--depth,
--layout; ``OUTPUT``: --format, --out, --columns, --width, --explain). A command is a function
registered with :func:`command` and the options it takes; it receives the parsed values, turns
them into the library's calls through :class:`ModelOptions` (the one place model options reach
the library) and renders through cnnstat.render.output.show (the one place formats are chosen).

Adding an option every model command takes: an ``Opt`` in ``MODEL_OPTIONS`` and a field in
``ModelOptions`` (passed on in ``ModelOptions.analyze`` and ``ModelOptions.kwargs``).

The parser is the standard library's argparse, built only for the command being run: start-up
is most of the time of ``cnnstat params vgg16``, and typer (with pydantic) and rich took longer to
import than the analysis itself. Values are matched case-insensitively and a misspelt command,
option or value gets a "did you mean" (cnnstat.suggest).
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from dataclasses import dataclass, field, fields, replace
from typing import Any, Callable, Sequence

from ..errors import CnnstatError, UsageError
from ..render.escape import error_line

PROG = "cnnstat"
ABOUT = ("Analyze convolutional neural network architectures: shapes, parameters, connections, "
         "MACs/FLOPs, memory and receptive fields — statically, from a definition, a zoo model or "
         "an imported model — and check them against the running model.")


# -- value converters (they raise UsageError: one line, exit status 2) --------------------------
def _convert(flag: str, parse: Callable[[str], Any], what: str, minimum: Any) -> Callable:
    def convert(text: str):
        try:
            value = parse(text)
        except ValueError:
            raise UsageError(f"{flag} '{text}' is not {what}") from None
        if minimum is not None and value < minimum:
            raise UsageError(f"{flag} {text}: must be at least {minimum:g}")
        return value
    return convert


def integer(flag: str, minimum: int | None = None) -> Callable[[str], int]:
    return _convert(flag, int, "a whole number", minimum)


def number(flag: str, minimum: float | None = None) -> Callable[[str], float]:
    return _convert(flag, float, "a number", minimum)


def choice(flag: str, options: Sequence[str]) -> Callable[[str], str]:
    def convert(text: str) -> str:
        from ..suggest import choose
        return choose(text, options, flag)
    return convert


# -- options ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Opt:
    """One option or positional argument. ``flags`` empty: a positional. ``action``: None (takes a
    value), "append" (repeatable), "flag" (on/off), "bool" (--x/--no-x),
    "inputs" (--input: repeatable, one value kept as it is)."""
    dest: str
    flags: tuple[str, ...] = ()
    help: str = ""
    default: Any = None
    type: Callable[[str], Any] | None = None
    action: str | None = None
    nargs: str | None = None
    metavar: str | None = None
    choices: tuple[str, ...] | None = None

    def but(self, **changes: Any) -> "Opt":
        """This option with some fields changed (a command's own help or default)."""
        return replace(self, **changes)

    @property
    def name(self) -> str:
        return self.flags[0] if self.flags else (self.metavar or self.dest.upper())

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        kwargs: dict[str, Any] = {"help": self._help(), "default": self.default}
        if not self.flags:
            kwargs["metavar"] = self.metavar or self.dest.upper()
            if self.nargs:
                kwargs["nargs"] = self.nargs
            if self.type:
                kwargs["type"] = self.type
            parser.add_argument(self.dest, **kwargs)
            return
        kwargs["dest"] = self.dest
        if self.action == "flag":
            kwargs["action"] = "store_true"
        elif self.action == "bool":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            if self.action == "append":
                kwargs["action"] = "append"
            elif self.action == "inputs":
                kwargs["action"] = _Inputs
            kwargs["metavar"] = self.metavar or self.dest.upper()
            convert = self.type or (choice(self.flags[0], self.choices) if self.choices else None)
            if convert:
                kwargs["type"] = convert
        parser.add_argument(*sorted(self.flags, key=len), **kwargs)   # -i, --input

    def _help(self) -> str:
        text = self.help
        if self.choices and "{" not in text:
            text += f" One of: {', '.join(self.choices)}."
        if self.default not in (None, False, "", ()) and "Default" not in text \
                and self.action != "bool":
            text += f" Default: {self.default}."
        return text.replace("%", "%%")


class _Inputs(argparse.Action):
    """--input, repeatable for a model whose forward takes several inputs: given once, its text;
    given more often, the texts in order (cnnstat.models.parse_input reads both)."""

    def __call__(self, parser, namespace, value, option_string=None) -> None:
        previous = getattr(namespace, self.dest, None)
        if previous is None:
            setattr(namespace, self.dest, value)
        else:
            texts = previous if isinstance(previous, tuple) else (previous,)
            setattr(namespace, self.dest, texts + (value,))


# The options the model commands share ----------------------------------------------------------
MODEL = Opt("model", metavar="MODEL", help=(
    "A zoo model (see 'cnnstat list'), a definition file (.yaml), or an existing model: "
    "torchvision:NAME, file.py:Name, package.module:factory, model.onnx, deploy.prototxt."))
MODELS = MODEL.but(dest="models", nargs="*", metavar="MODEL", help=(
    "Models: zoo names (cnnstat list), definition files or imported models."))
INPUT = Opt("input", ("--input", "-i"), metavar="SIZE", action="inputs", help=(
    "Input size: 224, 160x224 (HxW) or 3x224x224. Default: the model's. For a PyTorch model "
    "whose forward takes several inputs, one --input each, in order, as whole per-sample shapes "
    "(--input 3x224x224 --input 16:int64), or by keyword (--input image=3x224x224); an element "
    "type after ':' (int64, float16, ...; default float32)."))
BATCH = Opt("batch", ("--batch", "-b"), default=1, type=integer("--batch"), metavar="N",
            help="Batch size (scales MACs and memory).")
SET = Opt("set", ("--set", "-s"), action="append", metavar="NAME=VALUE", help=(
    "Override a variable of the definition: --set alpha=0.5 (repeatable)."))
VARIANT = Opt("variant", ("--variant",), metavar="NAME", help=(
    "Variant of a definition file with several (zoo names already are one)."))
ARG = Opt("arg", ("--arg", "-a"), action="append", metavar="NAME=VALUE", help=(
    "Argument of an imported model's builder (torchvision:NAME, file.py:Name, module:factory): "
    "--arg num_classes=10 (repeatable)."))
COUNT = Opt("count", ("--count",), metavar="KINDS", help=(
    "Also count these kinds in MACs: bias,norm,activation,pool,elementwise,resize or all. "
    "Default: convolution and linear multiply-adds only."))
DTYPE = Opt("dtype", ("--dtype",), default="fp32", metavar="TYPE", type=str.lower,   # FP16 = fp16
            help="Element type for memory: fp32, fp16, bf16, int8.")
TRAIN = Opt("train", ("--train",), action="flag", default=False, help=(
    "Training mode: count the layers that run only in training (auxiliary classifiers). "
    "Default: inference, as torch's eval mode runs the model (they are listed, marked [train], "
    "and their parameters count)."))
MODEL_OPTIONS = (INPUT, BATCH, SET, VARIANT, ARG, COUNT, DTYPE, TRAIN)

DEPTH = Opt("depth", ("--depth", "-d"), type=integer("--depth", 1), metavar="N",
            help="Collapse blocks deeper than N name levels into one row.")
LAYOUT = Opt("layout", ("--layout",), default="nchw", choices=("nchw", "nhwc"),
             help="Shape display.")
VIEW = (DEPTH, LAYOUT)

FORMAT = Opt("format", ("--format", "-f"), default="table", choices=("table", "md", "csv", "json"),
             metavar="FORMAT", help="Output format.")
FORMAT_HTML = FORMAT.but(choices=("table", "md", "csv", "json", "html"),
                         help="Output format; html is one self-contained page with the chart.")
OUT = Opt("out", ("--out", "-o"), metavar="FILE",
          help="Write to this file (atomically) instead of standard output.")
COLUMNS = Opt("columns", ("--columns",), metavar="KEYS", help=(
    "The table's columns, in this order, for table, md and csv output: --columns "
    "layer,params,macs (names as in the CSV header, or the headers); all: every column."))
WIDTH = Opt("width", ("--width",), type=integer("--width", 20), metavar="N", help=(
    "Fit tables and text to N characters. Default: $COLUMNS, else the terminal's width; "
    "unlimited when the output is not a terminal."))
EXPLAIN = Opt("explain", ("--explain",), action="flag", help=(
    "Print the counting convention in full (files always have it in full)."))
OUTPUT = (FORMAT, OUT, COLUMNS, WIDTH, EXPLAIN)


def but(group: Sequence[Opt], *replacements: Opt) -> tuple[Opt, ...]:
    """A group with some options replaced by a command's own (matched by ``dest``)."""
    by_dest = {o.dest: o for o in replacements}
    return tuple(by_dest.get(o.dest, o) for o in group)

#: every command that takes a model gets it (added by ``command``): it runs the model's Python code
TIMEOUT = Opt("timeout", ("--timeout",), type=number("--timeout", 0.001), metavar="SECONDS", help=(
    "Wall-clock limit for running a model's Python code (importing, building and tracing a .py "
    "or module:factory model) and forward passes (check, bench rows). Default: 300, or "
    "CNNSTAT_TIMEOUT."))

PLOT = Opt("plot", ("--plot", "-p"), metavar="FILE",
           help="Also write the chart to this file: .png or .svg (atomically).")


@dataclass(frozen=True)
class ModelOptions:
    """The shared model options' values: the one place they are handed to the library."""
    input: Any = None
    batch: int = 1
    set: list[str] | None = None
    variant: str | None = None
    arg: list[str] | None = None
    count: str | None = None
    dtype: str = "fp32"
    train: bool = False

    @classmethod
    def of(cls, args: argparse.Namespace, **override: Any) -> "ModelOptions":
        values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
        return cls(**{**values, **override})

    def analyze(self, model: Any):
        from .. import analyze
        return analyze(model, self.input, batch=self.batch, set=self.set, variant=self.variant,
                       count=self.count, dtype=self.dtype, args=self.arg, train=self.train)

    def kwargs(self, *names: str) -> dict[str, Any]:
        """These options as the library's keywords (``arg`` is called ``args`` there)."""
        return {("args" if n == "arg" else n): getattr(self, n) for n in names}


def output_options(args: argparse.Namespace, **override: Any):
    from ..render.output import OutputOptions
    values = {f.name: getattr(args, f.name) for f in fields(OutputOptions) if hasattr(args, f.name)}
    return OutputOptions(**{**values, **override})


# -- commands -----------------------------------------------------------------------------------
@dataclass
class Command:
    """A registered command: its function, options and help."""
    name: str
    run: Callable[[argparse.Namespace], int | None]
    options: tuple[Opt, ...]
    doc: str
    summary: str = field(init=False)

    def __post_init__(self) -> None:
        self.summary = " ".join(self.doc.split("\n\n")[0].split())

    def parser(self) -> "_Parser":
        parser = _Parser(prog=f"{PROG} {self.name}", description=self.doc,
                         formatter_class=_Formatter, allow_abbrev=False, add_help=False)
        positionals = parser.add_argument_group("arguments")
        options = parser.add_argument_group("options")
        for opt in self.options:
            opt.add_to(options if opt.flags else positionals)
        options.add_argument("-h", "--help", action="help", help="Show this help and exit.")
        return parser


COMMANDS: dict[str, Command] = {}


def command(name: str, *options: Opt | Sequence[Opt]) -> Callable:
    """Register a command with these options (single ``Opt``s and groups of them)."""
    flat: list[Opt] = []
    for item in options:
        flat += [item] if isinstance(item, Opt) else list(item)
    if any(o.dest in ("model", "models") for o in flat) and all(o.dest != "timeout" for o in flat):
        flat.append(TIMEOUT)

    def register(func: Callable) -> Callable:
        import inspect
        if name in COMMANDS:
            raise RuntimeError(f"command '{name}' is registered twice")
        seen: set[str] = set()
        for opt in flat:
            for key in (opt.dest, *opt.flags):
                if key in seen:
                    raise RuntimeError(f"command '{name}': option {key} is declared twice")
                seen.add(key)
        COMMANDS[name] = Command(name, func, tuple(flat), inspect.cleandoc(func.__doc__ or ""))
        return func
    return register


# -- parsing and the error boundary ---------------------------------------------------------------
class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own complaints, as one actionable line
        message = message.replace("the following arguments are required:", "missing argument")
        message = message.replace("expected one argument", "needs a value")
        if message.startswith("argument "):
            import re
            message = re.sub(r"^(-[^/:]+)(/-[^:]+)?:", r"\1:", message[len("argument "):])
        raise UsageError(f"{message} ('{self.prog} --help' shows the options)")


class _Formatter(argparse.HelpFormatter):
    """Paragraphs of a command's docstring reflow to the terminal; blank lines stay."""

    def __init__(self, prog: str):
        super().__init__(prog, max_help_position=28, width=_help_width())

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap
        paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
        return "\n\n".join(textwrap.fill(p, width, initial_indent=indent,
                                         subsequent_indent=indent) for p in paragraphs if p)


def _help_width() -> int:
    """The terminal's width for help text, at most 100 (argparse asks for it at every option)."""
    global _HELP_WIDTH
    if _HELP_WIDTH is None:
        from ..render.terminal import Screen
        _HELP_WIDTH = max(min(Screen.detect().width or 100, 100) - 2, 40)
    return _HELP_WIDTH


_HELP_WIDTH: int | None = None


def parse(argv: Sequence[str]) -> tuple[Command, argparse.Namespace]:
    """The command and its options, or a UsageError."""
    name, rest = argv[0], list(argv[1:])
    cmd = COMMANDS.get(name)
    if cmd is None:
        from ..suggest import did_you_mean
        what = "option" if name.startswith("-") else "command"
        raise UsageError(f"no such {what} '{name}'{did_you_mean(name, COMMANDS, 3)}; "
                         f"'{PROG} --help' lists the commands")
    parser = cmd.parser()
    args, extra = parser.parse_known_intermixed_args(rest)
    if extra:
        from ..suggest import did_you_mean
        word = extra[0]
        if word.startswith("-") and len(word) > 1:
            flags = [f.lstrip("-") for opt in cmd.options for f in opt.flags if f.startswith("--")]
            hint = did_you_mean(word.split("=")[0].lstrip("-"), flags, 3, prefix="--")
            raise UsageError(f"{PROG} {name}: no such option '{word}'{hint}; "
                             f"'{PROG} {name} --help' lists the options")
        raise UsageError(f"{PROG} {name}: unexpected argument '{word}' "
                         f"('{PROG} {name} --help' shows what it takes)")
    return cmd, args


def main_help() -> str:
    import textwrap

    from ..render.terminal import Screen
    width = min(Screen.detect().width or 100, 100)
    pad = max((len(n) for n in COMMANDS), default=0) + 4

    def para(text: str, indent: str = "", first: str = "") -> list[str]:
        return textwrap.wrap(text, width, initial_indent=first or indent,
                             subsequent_indent=indent) or [""]
    lines = [f"Usage: {PROG} COMMAND [ARGUMENTS] [OPTIONS]", ""] + para(ABOUT) + ["", "Commands:"]
    for name, cmd in COMMANDS.items():
        lines += para(cmd.summary, " " * pad, f"  {name.ljust(pad - 2)}")
    lines += [""] + para(f"'{PROG} COMMAND --help' shows a command's options. The model commands "
                         "share --input, --batch, --set, --variant, --arg, --count, --dtype, --train; the "
                         "table commands --format, --out, --columns, --width, --explain.")
    return "\n".join(lines) + "\n"


def run(argv: Sequence[str]) -> int:
    """Run a command with the error boundary: one line on stderr, exit status 2, no traceback
    (also for a full or closed standard output, memory and recursion exhausted). Python models'
    code runs contained in a child process (cnnstat.importers.contained), on the clock."""
    from .. import limits
    argv = list(argv)
    if sys.stdout is None:
        sys.stdout = _ClosedStream()          # type: ignore[assignment]
    contain, timeout = limits.contain_user_code(), limits.active_timeout()
    limits.set_contain_user_code(True)
    try:
        if not argv or argv[0] in ("-h", "--help", "help"):
            if len(argv) > 1 and argv[0] == "help":
                argv = [argv[1], "--help"]
            else:
                sys.stdout.write(main_help())
                return 0
        if argv[0] == "--version":
            from ..version import __version__
            print(f"{PROG} {__version__}")
            return 0
        cmd, args = parse(argv)
        if hasattr(args, "timeout"):
            limits.set_value("timeout", args.timeout if args.timeout is not None
                             else limits.value("timeout"))
        result = cmd.run(args)
        sys.stdout.flush()
    except CnnstatError as exc:
        return _fail(str(exc))
    except SystemExit as exc:           # --help
        return exc.code if isinstance(exc.code, int) else 0
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _quiet_broken_pipe()            # a reader that stopped early (| head): fine
        return 0
    except OSError as exc:
        if _stdout_broken(exc):
            _quiet_broken_pipe()
            return _fail(f"cannot write to standard output: {exc.strerror or exc}")
        where = f"'{exc.filename}': " if getattr(exc, "filename", None) else ""
        return _fail(f"{where}{exc.strerror or exc}")
    except MemoryError:
        return _fail("out of memory: the model is too large to analyze or run here (check: "
                     "--device meta needs no memory for activations)")
    except RecursionError:
        return _fail("the model is nested too deeply for Python's recursion limit "
                     "(see docs/limits.md)")
    finally:
        limits.set_contain_user_code(contain)
        limits.set_value("timeout", timeout)
    return result if isinstance(result, int) else 0


def _fail(message: str) -> int:
    print(f"error: {error_line(message)}", file=sys.stderr)
    return 2


class _ClosedStream:
    """Standard output when the process was started with it closed (``cnnstat ... >&-``):
    writing is an error (one line at the boundary), not silently nothing."""
    encoding = "utf-8"

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, "standard output is closed")

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError(errno.EBADF, "standard output is closed")


_WRITE_ERRORS = {errno.ENOSPC, errno.EPIPE, errno.EBADF, errno.EIO, errno.EFBIG, errno.EDQUOT}


def _stdout_broken(exc: OSError) -> bool:
    """Whether ``exc`` comes from standard output (a full device, a closed descriptor): files
    cnnstat reads or writes turn their OSErrors into one-line errors that name them (fileio),
    so a write error without a file name here is standard output's."""
    if getattr(exc, "filename", None) is None and exc.errno in _WRITE_ERRORS:
        return True
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        return True
    return isinstance(sys.stdout, _ClosedStream)


def _quiet_broken_pipe() -> None:
    """The reader went away (``cnnstat list | head``) or standard output failed: point it at
    /dev/null, so the buffered rest does not fail again when Python exits."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass
