"""One home per operator concept: an operator's torch module is declared beside its rule and
everything else is derived from the declaration (the torch construction, the PyTorch repr cnnstat
prints, the torch importer's module and function rules); the operator table of docs/format.md
lists every operator with its arguments; importer rule tables refuse a second rule for one
source operation; taps and 'same' padding are computed once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cnnstat.importers.common import Rules
from cnnstat.ops import REGISTRY
from cnnstat.ops.schema import resolve_padding
from cnnstat.ops.taps import taps_inside

ROOT = Path(__file__).resolve().parents[1]
DECLARED = sorted(name for name, rule in REGISTRY.items() if rule.torch is not None)


def test_rule_tables_refuse_a_second_rule():
    rules = Rules("ONNX op")

    @rules.on("Relu", "Clip")
    def relu(imp, node):
        return None
    assert rules["Relu"] is relu and rules["Clip"] is relu
    with pytest.raises(RuntimeError, match="ONNX op 'Relu' has two import rules"):
        rules.on("Relu")(lambda imp, node: None)
    same = object()
    rules.on(same, same)(relu)             # aliases of one object register once
    assert rules[same] is relu


def test_taps_inside_brute_force():
    """Pairs (position p, tap j) whose target p*s - pad + j*d is inside [0, reach), counted one by
    one, for convolutions (p: output, reach: input) and transposed ones (p: input, reach: output)."""
    for positions in range(1, 7):
        for reach in range(1, 7):
            for k in (1, 2, 3):
                for s in (1, 2, 3):
                    for pad in (0, 1, 2):
                        for d in (1, 2):
                            brute = sum(0 <= p * s - pad + j * d < reach
                                        for p in range(positions) for j in range(k))
                            assert taps_inside(positions, reach, k, s, pad, d) == brute
    # a 3-tap window, stride 1, padding 1 over 4 units: 4*3 pairs minus the two in the padding
    assert taps_inside(4, 4, 3, 1, 1, 1) == 10


def test_same_and_valid_padding_resolve_in_one_place():
    # d*(k-1) units per axis, the odd one after: k=4 -> 3 = 1 + 2; k=3, d=2 -> 4 = 2 + 2
    assert resolve_padding("same", (4, 3), (1, 2)) == ((1, 2), (2, 2))
    assert resolve_padding("valid", (4, 3), (1, 2)) == ((0, 0), (0, 0))
    assert resolve_padding(((1, 0), (0, 1)), (4, 3), (1, 1)) == ((1, 0), (0, 1))


# -- the declared torch module -------------------------------------------------------------------
torch = pytest.importorskip("torch")


@pytest.mark.torch
@pytest.mark.parametrize("op", DECLARED)
def test_declared_module_is_built_and_printed_as_pytorch_prints_it(op):
    """The factory derived from the declaration builds torch.nn.<name>, and cnnstat's describe()
    is torch's own repr of that module (an independent check of the arguments' mapping)."""
    from cnnstat.torch_bridge.modules import MODULES
    rule = REGISTRY[op]
    attrs = rule.bind([], {})
    shapes = [(1, 4, 5, 5)]
    module = MODULES[op](attrs, shapes)
    assert type(module) is getattr(torch.nn, rule.torch.name)
    assert repr(module) == rule.describe(attrs, shapes)


ELEMENTWISE = [op for op in DECLARED if REGISTRY[op].torch.elementwise]


@pytest.mark.torch
@pytest.mark.parametrize("op", ELEMENTWISE)
def test_declared_elementwise_operators_import_from_the_module_and_the_function(op):
    """A module (and its F.<function> call) with non-default arguments imports as the operator
    with those arguments: the importer's rules are derived from the declaration."""
    from cnnstat.importers import from_torch
    rule = REGISTRY[op]
    changed = {}
    for keyword, arg in rule.torch.args:        # a value other than the default, per argument
        default = rule.bind([], {})[arg]
        changed[arg] = ({"none": "tanh", "tanh": "none"}[default] if isinstance(default, str)
                        else default + 0.25)
    attrs = rule.bind([], changed)
    module = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), getattr(torch.nn, rule.torch.name)(
        **rule.torch.kwargs(attrs)))
    layers = [n for n in from_torch(module, "3x8x8") if n.op != "input"]
    assert [n.op for n in layers] == ["conv2d", op]
    assert {k: layers[1].attrs[k] for k in changed} == changed
    if rule.torch.function:
        function = getattr(torch.nn.functional, rule.torch.function)

        class Functional(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = torch.nn.Conv2d(3, 4, 3)

            def forward(self, x):
                return function(self.conv(x), **rule.torch.kwargs(attrs))
        layers = [n for n in from_torch(Functional(), "3x8x8") if n.op != "input"]
        assert [n.op for n in layers] == ["conv2d", op]
        assert {k: layers[1].attrs[k] for k in changed} == changed


# -- docs/format.md -------------------------------------------------------------------------------
def _operator_rows() -> list[tuple[list[str], set[str]]]:
    """(operators, argument names) of each row of docs/format.md's operator table; `x1d`/`2d`/`3d`
    names the 2-D and 3-D forms too."""
    doc = (ROOT / "docs" / "format.md").read_text()
    table = doc[doc.index("## Operators"):doc.index("## Errors")]
    rows = []
    for row in table.splitlines():
        if not row.startswith("| `"):
            continue
        cells = row.split("|")
        names: list[str] = []
        for m in re.finditer(r"(/)?`([a-z0-9_]+)`", cells[1]):
            name = m.group(2)
            if m.group(1) and names and re.fullmatch(r"\dd", name):
                name = names[-1][:-2] + name
            names.append(name)
        given = re.sub(r"^\s*layers(:\s*`[^`]*`|…)\s*,?", "", cells[2])   # inputs, not arguments
        args = {a.split("=")[0].strip(" `") for a in given.split(",")}
        rows.append((names, {a for a in args if re.fullmatch(r"[a-z_]+", a)}))
    return rows


def test_every_operator_has_a_row_with_its_arguments_in_docs_format():
    """Every operator a definition can write (ops/tensor.py's are written by importers only,
    docs/importers.md) has a row whose arguments are its schema's ('held': imported layers only)."""
    rows = _operator_rows()
    documented = {name: args for names, args in rows for name in names}
    for name, rule in REGISTRY.items():
        if type(rule).__module__ == "cnnstat.ops.tensor":
            continue
        assert name in documented, f"docs/format.md has no row for {name}"
        params = {p.name for p in rule.params} - {"held"}
        assert params <= documented[name], f"{name}: {sorted(params - documented[name])} " \
                                           "not in its docs/format.md row"
    for names, args in rows:
        assert args <= set().union(*({p.name for p in REGISTRY[n].params} for n in names)), names
