"""What autograd saves for every torch operator cnnstat's zoo and torch bridge use, measured.

Each case runs one module on inputs that require a gradient (made by a product, as inside a
network), in training mode, under the saved-tensor oracle (saved_tensors.op_saved), and lists
every deduplicated storage its autograd nodes keep: its role (input0, output, new, a cast or
copy of an input, param, cast(param), buffer), dtype, shape and bytes, and the node field that
holds it. Modes: float32; bfloat16 and float16 modules; autocast to bfloat16 (float16 on CUDA)
with float32 weights, fed float32 (a network's first layer) and low-precision inputs (inside a
network). At batch 2.

    python -m tests.oracles.op_table [--device cpu|cuda] > docs/memory-measured.md

tests/test_memory_table.py checks that docs/memory-measured.md is this module's CPU output
(regenerate with ``pytest tests/test_memory_table.py --regen-golden``);
benchmarks/gpu_memory.py writes the CUDA table beside its report.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .saved_tensors import op_saved

SHORT = {"float32": "f32", "bfloat16": "bf16", "float16": "f16", "int64": "i64", "bool": "bool",
         "uint8": "u8"}


class Fn(nn.Module):
    """A function as a module (for the oracle's module attribution)."""

    def __init__(self, fn: Callable, name: str):
        super().__init__()
        self.fn, self.name = fn, name

    def forward(self, *xs):
        return self.fn(*xs)

    def extra_repr(self) -> str:
        return self.name


class PermutedLinear(nn.Module):
    """ConvNeXt's channels-last MLP: permute, Linear, permute back."""

    def __init__(self, c: int, out: int):
        super().__init__()
        self.linear = nn.Linear(c, out)

    def forward(self, x):
        return self.linear(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


def _shuffle(x):
    n, c, h, w = x.shape
    return x.view(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)


def _stochastic_depth(mode):
    from torchvision.ops import StochasticDepth
    return StochasticDepth(0.5, mode)


IMG, IMG1, IMG3 = (2, 4, 6, 6), (2, 4, 10), (2, 4, 4, 6, 6)
# (id, the PyTorch call, module factory, input shapes)
CASES: list[tuple[str, str, Callable[[], nn.Module], list[tuple[int, ...]]]] = [
    ("conv1d", "nn.Conv1d(4, 6, 3)", lambda: nn.Conv1d(4, 6, 3), [IMG1]),
    ("conv2d", "nn.Conv2d(4, 6, 3)", lambda: nn.Conv2d(4, 6, 3), [IMG]),
    ("conv2d depthwise", "nn.Conv2d(4, 8, 3, groups=4)", lambda: nn.Conv2d(4, 8, 3, groups=4), [IMG]),
    ("conv2d reflect", "nn.Conv2d(4, 6, 3, padding=1, padding_mode='reflect')",
     lambda: nn.Conv2d(4, 6, 3, padding=1, padding_mode="reflect"), [IMG]),
    ("conv2d same, even kernel", "nn.Conv2d(4, 6, 2, padding='same')",
     lambda: nn.Conv2d(4, 6, 2, padding="same"), [IMG]),
    ("conv3d", "nn.Conv3d(4, 6, 3)", lambda: nn.Conv3d(4, 6, 3), [IMG3]),
    ("conv_transpose2d", "nn.ConvTranspose2d(4, 6, 3, stride=2)",
     lambda: nn.ConvTranspose2d(4, 6, 3, stride=2), [IMG]),
    ("linear", "nn.Linear(12, 5)", lambda: nn.Linear(12, 5), [(2, 12)]),
    ("linear, 3-D input", "nn.Linear(12, 5)", lambda: nn.Linear(12, 5), [(2, 3, 12)]),
    ("linear on permuted map", "Linear(x.permute(0, 2, 3, 1))", lambda: PermutedLinear(4, 5), [IMG]),
    ("batch norm 2d (train)", "nn.BatchNorm2d(4)", lambda: nn.BatchNorm2d(4), [IMG]),
    ("batch norm 2d (eval)", "nn.BatchNorm2d(4).eval()", lambda: nn.BatchNorm2d(4).eval(), [IMG]),
    ("batch norm 1d", "nn.BatchNorm1d(4)", lambda: nn.BatchNorm1d(4), [(2, 4)]),
    ("batch norm 3d", "nn.BatchNorm3d(4)", lambda: nn.BatchNorm3d(4), [IMG3]),
    ("layer norm", "nn.LayerNorm(6)", lambda: nn.LayerNorm(6), [IMG]),
    ("group norm", "nn.GroupNorm(2, 4)", lambda: nn.GroupNorm(2, 4), [IMG]),
    ("local response norm", "nn.LocalResponseNorm(3)", lambda: nn.LocalResponseNorm(3), [IMG]),
    ("relu", "nn.ReLU()", nn.ReLU, [IMG]),
    ("relu in place", "nn.ReLU(inplace=True)", lambda: nn.ReLU(inplace=True), [IMG]),
    ("relu6", "nn.ReLU6()", nn.ReLU6, [IMG]),
    ("relu6 in place", "nn.ReLU6(inplace=True)", lambda: nn.ReLU6(inplace=True), [IMG]),
    ("leaky relu", "nn.LeakyReLU(0.1)", lambda: nn.LeakyReLU(0.1), [IMG]),
    ("leaky relu in place", "nn.LeakyReLU(0.1, inplace=True)",
     lambda: nn.LeakyReLU(0.1, inplace=True), [IMG]),
    ("hardswish", "nn.Hardswish()", nn.Hardswish, [IMG]),
    ("hardswish in place", "nn.Hardswish(inplace=True)", lambda: nn.Hardswish(inplace=True), [IMG]),
    ("hardsigmoid", "nn.Hardsigmoid()", nn.Hardsigmoid, [IMG]),
    ("silu", "nn.SiLU()", nn.SiLU, [IMG]),
    ("silu in place", "nn.SiLU(inplace=True)", lambda: nn.SiLU(inplace=True), [IMG]),
    ("sigmoid", "nn.Sigmoid()", nn.Sigmoid, [IMG]),
    ("tanh", "nn.Tanh()", nn.Tanh, [IMG]),
    ("gelu", "nn.GELU()", nn.GELU, [IMG]),
    ("gelu tanh", "nn.GELU('tanh')", lambda: nn.GELU("tanh"), [IMG]),
    ("mish", "nn.Mish()", nn.Mish, [IMG]),
    ("elu", "nn.ELU()", nn.ELU, [IMG]),
    ("elu in place", "nn.ELU(inplace=True)", lambda: nn.ELU(inplace=True), [IMG]),
    ("prelu", "nn.PReLU(4)", lambda: nn.PReLU(4), [IMG]),
    ("softmax", "nn.Softmax(1)", lambda: nn.Softmax(1), [IMG]),
    ("log softmax", "nn.LogSoftmax(1)", lambda: nn.LogSoftmax(1), [IMG]),
    ("max pool 1d", "nn.MaxPool1d(2)", lambda: nn.MaxPool1d(2), [IMG1]),
    ("max pool 2d", "nn.MaxPool2d(2)", lambda: nn.MaxPool2d(2), [IMG]),
    ("max pool 3d", "nn.MaxPool3d(2)", lambda: nn.MaxPool3d(2), [IMG3]),
    ("avg pool 2d", "nn.AvgPool2d(2)", lambda: nn.AvgPool2d(2), [IMG]),
    ("avg pool 3d", "nn.AvgPool3d(2)", lambda: nn.AvgPool3d(2), [IMG3]),
    ("adaptive avg pool 3x3", "nn.AdaptiveAvgPool2d(3)", lambda: nn.AdaptiveAvgPool2d(3), [IMG]),
    ("adaptive avg pool 1x1", "nn.AdaptiveAvgPool2d(1)", lambda: nn.AdaptiveAvgPool2d(1), [IMG]),
    ("adaptive max pool 3x3", "nn.AdaptiveMaxPool2d(3)", lambda: nn.AdaptiveMaxPool2d(3), [IMG]),
    ("global mean", "x.mean((2, 3))", lambda: Fn(lambda x: x.mean((2, 3)), "mean"), [IMG]),
    ("global max (amax)", "x.amax((2, 3))", lambda: Fn(lambda x: x.amax((2, 3)), "amax"), [IMG]),
    ("dropout", "nn.Dropout(0.5)", lambda: nn.Dropout(0.5), [IMG]),
    ("dropout in place", "nn.Dropout(0.5, inplace=True)", lambda: nn.Dropout(0.5, inplace=True),
     [IMG]),
    ("dropout2d", "nn.Dropout2d(0.5)", lambda: nn.Dropout2d(0.5), [IMG]),
    ("stochastic depth, row", "StochasticDepth(0.5, 'row')", lambda: _stochastic_depth("row"),
     [IMG]),
    ("add", "x + y", lambda: Fn(lambda x, y: x + y, "add"), [IMG, IMG]),
    ("add, broadcast", "x + y (y N x C x 1 x 1)", lambda: Fn(lambda x, y: x + y, "add"),
     [IMG, (2, 4, 1, 1)]),
    ("add in place", "x += y", lambda: Fn(lambda x, y: x.add_(y), "add_"), [IMG, IMG]),
    ("mul", "x * y", lambda: Fn(lambda x, y: x * y, "mul"), [IMG, IMG]),
    ("mul, broadcast (SE gate)", "x * y (y N x C x 1 x 1)", lambda: Fn(lambda x, y: x * y, "mul"),
     [IMG, (2, 4, 1, 1)]),
    ("mul by a constant", "x * 0.5", lambda: Fn(lambda x: x * 0.5, "mul"), [IMG]),
    ("maximum", "torch.maximum(x, y)", lambda: Fn(torch.maximum, "maximum"), [IMG, IMG]),
    ("concat", "torch.cat([x, y], 1)", lambda: Fn(lambda x, y: torch.cat([x, y], 1), "cat"),
     [IMG, IMG]),
    ("flatten", "nn.Flatten()", nn.Flatten, [IMG]),
    ("reshape", "x.reshape(2, -1)", lambda: Fn(lambda x: x.reshape(2, -1), "reshape"), [IMG]),
    ("slice", "x[:, 1:3]", lambda: Fn(lambda x: x[:, 1:3], "slice"), [IMG]),
    ("channel shuffle", "view, transpose, reshape", lambda: Fn(_shuffle, "shuffle"), [IMG]),
    ("upsample nearest", "nn.Upsample(scale_factor=2)", lambda: nn.Upsample(scale_factor=2), [IMG]),
    ("upsample bilinear", "nn.Upsample(scale_factor=2, mode='bilinear')",
     lambda: nn.Upsample(scale_factor=2, mode="bilinear"), [IMG]),
    ("zero pad", "nn.ZeroPad2d(1)", lambda: nn.ZeroPad2d(1), [IMG]),
    ("reflection pad", "nn.ReflectionPad2d(1)", lambda: nn.ReflectionPad2d(1), [IMG]),
    ("matmul", "x @ y", lambda: Fn(torch.matmul, "matmul"), [(2, 3, 4, 5), (2, 3, 5, 6)]),
    ("scaled dot-product attention", "F.scaled_dot_product_attention(q, k, v)",
     lambda: Fn(F.scaled_dot_product_attention, "sdpa"), [(2, 3, 8, 16)] * 3),
]

MODES = {   # name: (module dtype, input dtype, autocast dtype or None)
    "float32": ("float32", "float32", None),
    "bfloat16": ("bfloat16", "bfloat16", None),
    "float16": ("float16", "float16", None),
    "autocast, float32 input": ("float32", "float32", "low"),
    "autocast, low-precision input": ("float32", "low", "low"),
}


def measure_case(factory, shapes, mode: str, device: str):
    module_dtype, input_dtype, autocast = MODES[mode]
    low = torch.bfloat16 if device == "cpu" else torch.float16
    torch.manual_seed(0)
    module = factory().to(device=device, dtype=getattr(torch, module_dtype))
    if not any(isinstance(m, nn.BatchNorm2d) and not m.training for m in module.modules()):
        module.train()
    dtype = low if input_dtype == "low" else getattr(torch, input_dtype)
    leaves = [torch.rand(s, device=device).to(dtype).requires_grad_() for s in shapes]
    xs = [leaf * 1.0 for leaf in leaves]
    context = torch.autocast(device, dtype=low) if autocast else None
    return op_saved(module, xs, autocast=context)


def _item(row) -> str:
    shape = ",".join(str(d) for d in row.shape)
    return f"{row.role} {SHORT.get(row.dtype, row.dtype)}[{shape}] `{row.node}.{row.field[7:]}`"


def table(device: str = "cpu") -> str:
    low = "bfloat16" if device == "cpu" else "float16"
    lines = [
        f"# What autograd saves, measured ({device.upper()}, PyTorch {torch.__version__})", "",
        "Generated by `python -m tests.oracles.op_table --device " + device + "` (the "
        "saved-tensor oracle, tests/oracles/); do not edit. Each operator runs once in training "
        "mode at batch 2 on inputs that require a gradient; every storage its autograd nodes "
        "keep is listed once: its role (`input0`, `output`, `new` = made by the operator, "
        "`cast(input0)` / `copy(input0)` = autocast's or a reshape's copy of an input, "
        "`param`, `cast(param)` = autocast's low-precision copy of a weight, `buffer`), dtype, "
        "shape, and the autograd node field that holds it. *activation bytes* sums the "
        "storages that are not parameters, buffers or weight copies. docs/memory.md turns this "
        "into the rules.", ""]
    for mode in MODES:
        title = mode.replace("low-precision", low).replace("autocast", f"autocast ({low})")
        lines += [f"## {title}", "", "| operator | PyTorch | output | saved for backward | "
                  "activation bytes |", "|---|---|---|---|---:|"]
        for name, call, factory, shapes in CASES:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rows, out = measure_case(factory, shapes, mode, device)
            except (RuntimeError, NotImplementedError, ValueError) as exc:
                message = str(exc).splitlines()[0][:90].replace("|", "\\|")
                lines.append(f"| {name} | `{call}` | — | not run: {message} | — |")
                continue
            out = out if isinstance(out, torch.Tensor) else out[0]
            acts = sum(r.nbytes for r in rows if r.role not in ("param", "buffer", "cast(param)"))
            saved = "<br>".join(_item(r) for r in rows) or "nothing"
            shape = ",".join(str(d) for d in out.shape)
            lines.append(f"| {name} | `{call}` | {SHORT.get(str(out.dtype)[6:], '?')}[{shape}] "
                         f"| {saved} | {acts:,} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    args = parser.parse_args(argv)
    sys.stdout.write(table(args.device))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
