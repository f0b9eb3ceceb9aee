"""What one operator keeps for its backward pass, as plain integers: the vocabulary of the
per-operator saved-tensor rules (docs/memory.md, "What autograd saves"). Each rule is its
operator's ``memory`` method (cnnstat/ops, beside ``evaluate``); ``Op.memory`` itself raises
:class:`NoRule`.

A rule answers, for one layer (its attributes, input shapes, output shape and a
:class:`Context`), with an :class:`OpMemory`:

- ``saved``: the tensors the operator's autograd node holds until its backward runs, each a
  :class:`Saved` that names either one of the layer's inputs, its output, or a tensor the
  operator makes for the purpose (max-pooling indices, a dropout mask, batch-norm statistics, a
  padded copy of the input). Parameters an operator saves (a convolution's weight) are not
  listed: they are alive anyway and counted as parameters. Under autocast, the low-precision
  copy of a weight that a convolution or linear layer saves is ``cast_params`` (elements).
- ``view_of``: the output shares the storage of input k (a view: flatten, reshape, slice; or the
  input itself: identity, dropout at inference) and allocates nothing.
- ``input_grads``: per input, whether the gradient the backward hands that input is a new tensor
  (``"new"``, the default) or the output's gradient itself or a view of it (``"view"``: an
  addition passes its gradient through, a concatenation hands out slices, a view op reshapes).
- ``backward_temp``: elements the backward allocates for the moment besides the gradients it
  returns (a chunk's backward fills the chunks nobody used with zeros before concatenating).
- ``autocast``: how ``torch.autocast`` runs the operator: ``"lower"`` (casts its inputs and
  weights to the low-precision dtype: convolution, linear, matmul), ``"fp32"`` (casts its inputs
  to float32: softmax, layer norm on CUDA), ``"keep"`` (runs in its inputs' dtype, the widest
  of them when they differ; ``mixes_params``: its parameters take part in that promotion).

Element counts include the batch. Dtypes are named, never sized, here: ``"act"`` is the dtype
the operator computes in (its output's), ``"stat"`` a per-channel statistic (float32 on CUDA;
on CPU the parameters' dtype), and ``"fp32"``, ``"int64"``, ``"bool"`` are what they say.
Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

INPUT, OUTPUT, NEW = "input", "output", "new"
ACT, STAT = "act", "stat"
LOWER, FP32, KEEP = "lower", "fp32", "keep"
VIEW = "view"

DTYPE_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2, "int64": 8, "bool": 1, "uint8": 1}
LOW_DTYPES = ("bf16", "fp16")


@dataclass(frozen=True, slots=True)
class Saved:
    """One tensor kept for backward: input ``index``, the output, or a new tensor of
    ``elements`` elements of ``dtype``. ``name`` says what it is (for tables)."""
    what: str
    index: int = 0
    elements: int = 0
    dtype: str = ACT
    name: str = ""
    cast: bool = True        # an input autocast copies is saved as the copy (else as it came)

    @staticmethod
    def input(index: int = 0, name: str = "input", cast: bool = True) -> "Saved":
        return Saved(INPUT, index, name=name, cast=cast)

    @staticmethod
    def output(name: str = "output") -> "Saved":
        return Saved(OUTPUT, name=name)

    @staticmethod
    def new(elements: int, dtype: str = ACT, name: str = "") -> "Saved":
        return Saved(NEW, elements=elements, dtype=dtype, name=name)


@dataclass(frozen=True, slots=True)
class OpMemory:
    """An operator's memory behaviour in training (see the module docstring)."""
    saved: tuple[Saved, ...] = ()
    view_of: int | None = None
    input_grads: tuple[str, ...] = ()
    autocast: str = KEEP
    mixes_params: bool = False
    cast_params: int = 0          # weight elements autocast casts to low precision and saves
    cached_params: int = 0        # other parameter elements autocast casts (biases): not saved
    output_dtype: str | None = None   # the output's dtype when the rule fixes it (else computed)
    backward_temp: int = 0        # elements its backward allocates besides the input gradients
    notes: tuple[str, ...] = field(default=())

    def input_grad(self, index: int) -> str:
        return self.input_grads[index] if index < len(self.input_grads) else NEW


@dataclass(frozen=True, slots=True)
class Context:
    """What a rule may depend on besides attributes and shapes.

    train: training mode (dropout drops, batch norm uses batch statistics).
    device: 'cuda' or 'cpu': the few places where PyTorch's kernels keep different tensors
        (dropout's mask, autocast's operator lists, statistics dtypes).
    requires_grad: per input, whether it requires a gradient (the model's input does not).
    amp: under torch.autocast (for composite operators whose parts autocast treats apart).
    dtype: the step's ``--dtype`` ('fp32', 'bf16', 'fp16'): the activations' dtype without
        autocast, autocast's low precision with it (for kernels that compute in float32 anyway).
    """
    train: bool = True
    device: str = "cuda"
    requires_grad: tuple[bool, ...] = ()
    amp: bool = False
    dtype: str = "fp32"

    def needs_grad(self, index: int) -> bool:
        return self.requires_grad[index] if index < len(self.requires_grad) else True


class NoRule(Exception):
    """The operator has no saved-tensor rule, or none for this case: listed as not counted, never
    guessed. ``why``: what is not known, in words a user can act on (printed beside the layers)."""

    def __init__(self, op: str = "", why: str = "no saved-tensor rule") -> None:
        super().__init__(op)
        self.why = why
