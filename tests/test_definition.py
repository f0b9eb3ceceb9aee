"""The definition format: every construct of docs/format.md, and the errors it reports."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

import cnnstat
from cnnstat.errors import CnnstatError, DefinitionError
from cnnstat.definition import build_graph, parse_definition

ROOT = Path(__file__).resolve().parent.parent


def graph(text: str, variant=None, overrides=None, input_shape=None):
    return build_graph(parse_definition(textwrap.dedent(text), "net.yaml"), variant, overrides,
                       input_shape)


def names(text: str, **kw) -> list[str]:
    return [n.name for n in graph(text, **kw) if n.op != "input"]


def error(text: str, **kw) -> CnnstatError:
    with pytest.raises(CnnstatError) as info:
        cnnstat.analyze(graph(text, **kw))
    return info.value


def test_entries_names_and_groups():
    g = graph("""
        input: [3, 8, 8]
        layers:
          - conv2d(4, 3)
          - conv: conv2d(4, 1)
          - head: [relu, "linear(10)"]
          - {name: out, op: softmax, dim: 1}
        """)
    assert [(n.name, n.op) for n in g][1:] == [
        ("0", "conv2d"), ("conv", "conv2d"), ("head.0", "relu"), ("head.1", "linear"),
        ("out", "softmax")]
    assert g["conv"].inputs == ("0",) and g["head.0"].inputs == ("conv",)
    assert g.outputs == ("out",)
    assert g["conv"].line == 5


def test_branches_merge_and_identity_branch():
    g = graph("""
        input: [8, 16, 16]
        layers:
          - block:
              branches:
                a: conv2d(4, 1)
                b: ["conv2d(4, 1)", "conv2d(6, 3, padding=1)"]
                c: []
          - res:
              branches: {main: "conv2d(18, 3, padding=1)", skip: []}
              merge: add
        """)
    cat = g["block.concat"]
    assert cat.inputs == ("block.a", "block.b.1", "input")
    a = cnnstat.analyze(g)
    assert a.record("block.concat").output_shape == (1, 18, 16, 16)     # 4 + 6 + 8
    assert g["res.add"].inputs == ("res.main", "block.concat")


def test_repeat_with_index_if_and_from():
    g = graph("""
        input: [3, 32, 32]
        vars: {widths: [8, 16, 32]}
        layers:
          - stem: conv2d(8, 3, padding=1)
          - stage: {repeat: 3, call: "conv2d(widths[i], 3, stride=1 if i == 0 else 2, padding=1)"}
          - skip: {if: false, call: relu}
          - side: {from: stem, call: "conv2d(2, 1)", output: true}
          - fc: {from: skip, layers: [flatten, "linear(10)"]}
        """)
    a = cnnstat.analyze(g)
    assert [r.output_shape for r in a.records[:4]] == [
        (1, 8, 32, 32), (1, 8, 32, 32), (1, 16, 16, 16), (1, 32, 8, 8)]
    assert "skip" not in g                       # skipped: its name refers to its input
    assert g["fc.0"].inputs == ("stage.2",)
    assert g.outputs == ("fc.1", "side")


def test_custom_repeat_index_and_prev_input_refs():
    n = names("""
        input: [4, 8, 8]
        layers:
          - rep: {repeat: 2, index: k, layers: ["conv2d(4, 1)", "add(prev, input)"]}
        """)
    assert n == ["rep.0.0", "rep.0.1", "rep.1.0", "rep.1.1"]


def test_blocks_defaults_nesting_and_block_values():
    g = graph("""
        input: [3, 16, 16]
        vars: {width_per_group: 64, block: inner}
        blocks:
          inner(c, width=int(c * width_per_group / 64) * 2):
            - conv: conv2d(width, 1)
          outer(c):
            - first: block(c)
            - second: inner(c)
        layers:
          - b: outer(4)
        """)
    assert [(n.name, n.attrs.get("out")) for n in g][1:] == [("b.first.conv", 8), ("b.second.conv", 8)]
    assert g.meta["groups"]["b"] == "outer" and g.meta["groups"]["b.first"] == "inner"


def test_block_takes_a_layer_argument():
    g = graph("""
        input: [4, 16, 16]
        blocks:
          up(skip, c):
            - conv: conv2d(c, 1)
            - cat: concat(skip, prev, crop='center')
        layers:
          - enc: conv2d(4, 3)
          - down: maxpool2d(2)
          - dec: up(enc, 2)
        """)
    assert g["dec.cat"].inputs == ("enc", "dec.conv")


def test_variants_vars_and_overrides():
    text = """
        input: [3, resolution, resolution]
        vars:
          alpha: 1.0
          rho: 1.0
          resolution: round(224 * rho)
          c1: make_divisible(32 * alpha, 8)
        variants:
          full: {}
          half: {alpha: 0.5, title: Half width}
        default: full
        layers:
          - conv1: conv2d(c1, 3, stride=2, padding=1)
        """
    assert graph(text)["conv1"].attrs["out"] == 32
    half = graph(text, variant="half")
    assert half["conv1"].attrs["out"] == 16 and half.meta["title"] == "Half width"
    g = graph(text, overrides={"alpha": "0.75", "rho": "0.5"})
    assert g["conv1"].attrs["out"] == 24 and g.input_shape == (3, 112, 112)
    assert graph(text, input_shape=(None, 64, 96)).input_shape == (3, 64, 96)
    with pytest.raises(DefinitionError, match="unknown variant 'hlf'.*did you mean 'half'"):
        graph(text, variant="hlf")
    with pytest.raises(DefinitionError, match="unknown variable 'alpah'.*did you mean 'alpha'"):
        graph(text, overrides={"alpah": "1"})


@pytest.mark.parametrize("text, pattern, line", [
    ("input: [3, 8, 8]\nlayers: [relu]\nlayer: 1\n", "unknown top-level key 'layer'.*did you mean 'layers'", 3),
    ("input: [3, 8, 8]\n", "no 'layers'", 1),
    ("input: [3, 8, 8]\nlayers:\n  - convv2d(8, 3)\n", "unknown operator or block 'convv2d'.*'conv2d'", 3),
    ("input: [3, 8, 8]\nlayers:\n  - conv2d(8, 3, groupz=2)\n", "no argument 'groupz'", 3),
    ("input: [3, 8, 8]\nlayers:\n  - add(prev, nothere)\n", "unknown name 'nothere'", 3),
    ("input: [3, 8, 8]\nlayers:\n  - a: relu\n  - a: relu\n", "used twice", 4),
    ("input: [3, 8, 8]\nvars: {w: 2}\nlayers:\n  - w: relu\n", "also a variable", 4),
    ("input: [3, 8, 8]\nlayers:\n  - input: relu\n", "reserved", 3),
    ("input: [3, 8, 8]\nlayers:\n  - {call: relu, repaet: 2}\n", "unknown key 'repaet'.*'repeat'", 3),
    ("input: [3, 8, 8]\nlayers:\n  - x: {repeat: -1, call: relu}\n", "non-negative", 3),
    ("input: [3, 8, 8]\nlayers:\n  - conv2d(8 / 0, 3)\n", "division by zero", 3),
    ("input: [3, 8, 8]\nlayers:\n  - conv2d(2 ** 100, 3)\n", "too large", 3),
    ("input: [3, 8, 8]\nlayers:\n  - conv2d(8.5, 3)\n", "integer", 3),
    ("input: [3, 8, 8]\nlayers:\n  - [conv2d(8, 3), relu]\n", "cannot read entry", 3),
    ("input: [3, 8, 8]\nlayers: [conv2d(8, 3), relu]\n", "quote calls", 2),
    ("input: [3, 8, 8]\nblocks:\n  b(x):\n    - b(x)\nlayers:\n  - b(1)\n", "calls itself", 4),
    ("input: [3, 8, 8]\nblocks:\n  b(:\n    - relu\nlayers: [relu]\n", "block header", 3),
    ("input: [3, 8, 8]\nlayers:\n  - x: {from: x, call: relu}\n", "unknown name 'x'", 3),
    ("input: [8]\nlayers: [relu]\n", r"\[channels, length\], \[channels, height, width\]", 1),
    ("input: [3, 0, 8]\nlayers: [relu]\n", "positive integers", 1),
    ("input: [3, 8, 8]\nlayers:\n  - conv2d(8, 3, padding=foo.bar)\n", "attribute access", 3),
    ("input: [3, 8, 8]\nlayers:\n  - conv2d(8, 3)\n  - add(prev, input)\n", "do not match", 4),
    ("input: [3, 8, 8]\nlayers:\n  - conv2d(8, 9)\n", "too small", 3),
    ("input: [3, 8, 8]\nlayers:\n  - relu: relu\n  - relu\n  - conv2d(relu, 3)\n", "is a layer, not a value", 5),
    ("input: [3, 8, 8]\nlayers:\n  - a: relu\n  b: relu\n", "invalid YAML", 4),
    ("input: [3, 8, 8]\ninput: [3, 8, 8]\nlayers: [relu]\n", "appears twice", 2),
])
def test_definition_errors_are_located(text, pattern, line):
    with pytest.raises(CnnstatError) as info:
        cnnstat.analyze(graph(text))
    err = info.value
    assert re.search(pattern, err.message), err.message
    assert err.file == "net.yaml" and err.line == line, str(err)
    assert "\n" not in str(err)


def test_error_names_the_layer_inside_blocks():
    err = error("""
        input: [3, 8, 8]
        blocks:
          b(c):
            - conv: conv2d(c, 3, groups=2)
        layers:
          - stage: {repeat: 2, call: "b(4)"}
        """)
    assert err.layer == "stage.0.conv" and err.line == 5
    assert "not divisible by groups" in err.message


def test_empty_binary_and_huge_inputs(tmp_path):
    from cnnstat.definition import load_definition
    empty = tmp_path / "empty.yaml"
    empty.write_text("  \n")
    with pytest.raises(DefinitionError, match="empty"):
        load_definition(str(empty))
    binary = tmp_path / "garbage.yaml"
    binary.write_bytes(b"\x00\x01\xff" * 100)
    with pytest.raises(DefinitionError, match="binary"):
        load_definition(str(binary))
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(b"input: [3, 8, 8]\n# caf\xe9\nlayers: [relu]\n")
    with pytest.raises(DefinitionError, match="UTF-8") as info:
        load_definition(str(latin))
    assert info.value.line == 2
    big = tmp_path / "big.yaml"
    with open(big, "wb") as handle:
        handle.truncate(5 * 1024 * 1024)
    with pytest.raises(DefinitionError, match="MB"):
        load_definition(str(big))


def test_alias_bomb_is_bounded():
    lines = ["a0: &a0 [relu, relu, relu, relu, relu, relu, relu, relu, relu, relu]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    text = "\n".join(lines).replace("a0:", "input: [3, 4, 4]\nvars:\n  a0:")
    text = text.replace("\na", "\n  a") + "\nlayers: *a8\n"
    with pytest.raises(CnnstatError):
        cnnstat.analyze(graph(text))


def test_examples_in_format_doc_build():
    """Every complete definition (with input and layers) in docs/format.md builds and analyses."""
    doc = (ROOT / "docs" / "format.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", doc, re.S)
    complete = [b for b in blocks if re.search(r"^input:", b, re.M) and re.search(r"^layers:", b, re.M)]
    assert complete, "docs/format.md should hold at least one complete example"
    for text in complete:
        a = cnnstat.analyze(build_graph(parse_definition(text, "format.md")))
        assert a.totals.params > 0
