"""Activations and softmax: element-wise functions of their input.

Convention: one operation per element (kind "activation", not counted by default), whatever the
function costs on real hardware; no parameters except PReLU's slopes (1 shared, or 1 per channel).
"""

from __future__ import annotations

from typing import Sequence

from ..errors import ShapeError
from ..memory.saved import FP32, KEEP, LOWER, Context, OpMemory, Saved
from .base import Eval, Op, TorchModule, register
from .kinds import ACTIVATION
from .schema import Param, any_int, choice, number, positive_int
from .shapes import Shape, fmt_shape, numel
from .transfer import WHOLE, Transfer, on_axis


class _Elementwise(Op):
    """An element-wise function: the torch module it is (``torch``: its describe(), torch
    construction and import are derived from it), one operation per element."""
    #: what the backward reads: "input" (most), or "output" (ReLU, sigmoid, tanh: the gradient
    #: is a function of the result, so ReluBackward0 and the others save their result)
    saves = "input"

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        return Eval(shape=inputs[0], macs={ACTIVATION: numel(inputs[0])})

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves its input, or its output where the gradient is a function of the output
        (ReLU6 is Hardtanh(0, 6): its input)."""
        return OpMemory((Saved.output() if self.saves == "output" else Saved.input(0),))


def _simple(name: str, torch_name: str, summary: str, saves: str = "input") -> type[Op]:
    """An element-wise function without arguments: ``torch.nn.<torch_name>()``,
    ``F.<name>(x)``."""
    torch = TorchModule(torch_name, function=name, elementwise=True)
    cls = type(torch_name, (_Elementwise,), {"name": name, "torch": torch, "summary": summary,
                                             "saves": saves, "__module__": __name__})
    return register(cls)


ReLU = _simple("relu", "ReLU", "max(0, x)", saves="output")
ReLU6 = _simple("relu6", "ReLU6", "min(max(0, x), 6) (MobileNet)")
Sigmoid = _simple("sigmoid", "Sigmoid", "1 / (1 + exp(-x))", saves="output")
Tanh = _simple("tanh", "Tanh", "hyperbolic tangent", saves="output")
Hardswish = _simple("hardswish", "Hardswish", "x * relu6(x + 3) / 6 (MobileNetV3)")
Hardsigmoid = _simple("hardsigmoid", "Hardsigmoid", "relu6(x + 3) / 6 (MobileNetV3)")
SiLU = _simple("silu", "SiLU", "x * sigmoid(x), a.k.a. swish (EfficientNet)")
Mish = _simple("mish", "Mish", "x * tanh(softplus(x))")


@register
class LeakyReLU(_Elementwise):
    name = "leaky_relu"
    torch = TorchModule("LeakyReLU", function="leaky_relu", elementwise=True,
                        negative_slope="negative_slope")
    summary = "max(0, x) + negative_slope * min(0, x)"
    params = (Param("negative_slope", number, 0.01),)


@register
class ELU(_Elementwise):
    name = "elu"
    torch = TorchModule("ELU", function="elu", elementwise=True, alpha="alpha")
    summary = "exponential linear unit"
    params = (Param("alpha", number, 1.0),)


@register
class Hardtanh(_Elementwise):
    name = "hardtanh"
    torch = TorchModule("Hardtanh", function="hardtanh", elementwise=True, min_val="min",
                        max_val="max")
    summary = "clamp(x, min, max)"
    params = (Param("min", number, -1.0), Param("max", number, 1.0))


@register
class Softplus(_Elementwise):
    """softplus(x) = log(1 + exp(beta * x)) / beta, and x itself where beta * x > threshold
    (PyTorch's nn.Softplus; Dugas et al. 2001): YOLOv4's Mish written out as
    x * tanh(softplus(x)), variance heads. One operation per element; saves its input
    (SoftplusBackward0 reads x)."""
    name = "softplus"
    torch = TorchModule("Softplus", function="softplus", elementwise=True, beta="beta",
                        threshold="threshold")
    summary = "log(1 + exp(beta * x)) / beta, x above threshold"
    params = (Param("beta", number, 1.0), Param("threshold", number, 20.0))


@register
class GELU(_Elementwise):
    name = "gelu"
    torch = TorchModule("GELU", function="gelu", elementwise=True, approximate="approximate")
    summary = "Gaussian error linear unit"
    params = (Param("approximate", choice("none", "tanh"), "none"),)


@register
class PReLU(Op):
    name = "prelu"
    torch = TorchModule("PReLU", num_parameters="num_parameters")
    summary = "leaky ReLU with learned slopes: 1 shared, or one per channel"
    params = (Param("num_parameters", positive_int, 1, "1, or the number of channels"),)

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        k = a["num_parameters"]
        if k != 1 and (len(shape) < 2 or shape[1] != k):
            raise ShapeError(f"prelu: num_parameters={k} must be 1 or the number of channels "
                             f"({shape[1] if len(shape) > 1 else 'none'})")
        return Eval(shape=shape, params=k, connections=numel(shape[1:]),
                    macs={ACTIVATION: numel(shape)})

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves its input and its slopes (on autocast's low-precision list)."""
        return OpMemory((Saved.input(0),), autocast=LOWER, cast_params=a["num_parameters"])


class _Softmax(Op):
    params = (Param("dim", any_int, 1, "the dimension to normalize (1 = channels)"),)

    def evaluate(self, a, inputs: Sequence[Shape]) -> Eval:
        shape = inputs[0]
        dim = a["dim"] + len(shape) if a["dim"] < 0 else a["dim"]
        if not 0 <= dim < len(shape):
            raise ShapeError(f"{self.name}: dim {a['dim']} is out of range for shape {fmt_shape(shape)}")
        if dim == 0:
            raise ShapeError(f"{self.name}: dim 0 is the batch dimension")
        rf = on_axis(len(shape) - 2, dim - 2, WHOLE) if dim >= 2 else Transfer()
        return Eval(shape=shape, macs={ACTIVATION: numel(shape)}, rf=rf)

    def memory(self, a, inputs, output, ctx: Context) -> OpMemory:
        """Saves its output; CUDA autocast runs softmax and log-softmax in float32."""
        return OpMemory((Saved.output(),), autocast=FP32 if ctx.device == "cuda" else KEEP)


@register
class Softmax(_Softmax):
    name = "softmax"
    torch = TorchModule("Softmax", dim="dim")
    summary = "softmax along a dimension (default: channels)"


@register
class LogSoftmax(_Softmax):
    name = "log_softmax"
    torch = TorchModule("LogSoftmax", dim="dim")
    summary = "log of softmax along a dimension"
