"""A bug in an operator rule (a KeyError, a TypeError... raised inside it) is cnnstat's fault: it
surfaces as an internal error that names the rule and the layer and asks for a bug report, never
as the user's ShapeError; a degenerate input (a division by zero inside a rule) stays the
user's ShapeError. The ONNX importer lets its own rule bugs surface the same way and leaves only
constants that do not compute (the file's fault) unknown."""

from __future__ import annotations

import pytest

import cnnstat
from cnnstat.cli import main
from cnnstat.errors import InternalError, ShapeError
from cnnstat.ops import REGISTRY

NET = """\
name: tiny
input: [3, 16, 16]
layers:
  - conv: conv2d(4, 3)
  - act: relu
  - pool: global_avgpool
"""


def _broken(exc: Exception):
    def evaluate(self, attrs, inputs):
        raise exc
    return evaluate


@pytest.fixture
def net(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(NET)
    return str(path)


@pytest.mark.parametrize("exc", [KeyError("kernel"), TypeError("unsupported operand"),
                                 AttributeError("'tuple' object has no attribute 'h'"),
                                 IndexError("tuple index out of range")])
def test_a_rule_bug_is_an_internal_error_not_a_shape_error(net, monkeypatch, exc):
    monkeypatch.setattr(type(REGISTRY["relu"]), "evaluate", _broken(exc))
    with pytest.raises(InternalError) as info:
        cnnstat.analyze(net)
    assert not isinstance(info.value, ShapeError)
    text = str(info.value)
    assert f"internal error in rule relu at layer act: {type(exc).__name__}" in text
    assert "this is a cnnstat bug, please report it with the definition" in text
    assert "tiny.yaml" in text                          # where: the file and line of the layer


def test_a_degenerate_input_stays_the_users_shape_error(net, monkeypatch):
    monkeypatch.setattr(type(REGISTRY["relu"]), "evaluate", _broken(ZeroDivisionError("by 0")))
    with pytest.raises(ShapeError, match="relu cannot be applied to input"):
        cnnstat.analyze(net)


def test_the_cli_prints_the_internal_error_as_one_line(net, monkeypatch, capsys):
    monkeypatch.setattr(type(REGISTRY["relu"]), "evaluate", _broken(KeyError("kernel")))
    code = main(["params", net])
    out, err = capsys.readouterr()
    assert code == 2 and not out
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "internal error in rule relu at layer act: KeyError" in err
    assert "please report it" in err


# -- ONNX --------------------------------------------------------------------------------------
def _onnx_relu_add(tmp_path) -> str:
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("Add", ["c1", "c2"], ["c"], name="fold"),
             helper.make_node("Add", ["r", "c"], ["y"], name="add")]
    inits = [helper.make_tensor("c1", TensorProto.FLOAT, [1], [1.0]),
             helper.make_tensor("c2", TensorProto.FLOAT, [1], [2.0])]
    graph = helper.make_graph(nodes, "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])],
                              inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path = tmp_path / "m.onnx"
    onnx.save(model, str(path))
    return str(path)


@pytest.mark.torch
def test_onnx_import_works_unbroken(tmp_path):
    a = cnnstat.analyze(_onnx_relu_add(tmp_path))
    assert [r.name for r in a.records] == ["relu", "add"] and a.records[0].op == "relu"


@pytest.mark.torch
def test_onnx_operator_rule_bug_surfaces(tmp_path, monkeypatch):
    path = _onnx_relu_add(tmp_path)
    monkeypatch.setattr(type(REGISTRY["relu"]), "evaluate", _broken(KeyError("slope")))
    with pytest.raises(InternalError, match="internal error in rule relu at layer relu: KeyError"):
        cnnstat.analyze(path)


@pytest.mark.torch
def test_onnx_import_rule_bug_surfaces(tmp_path, monkeypatch):
    path = _onnx_relu_add(tmp_path)
    from cnnstat.importers import onnx_rules

    def broken(imp, node):
        raise AttributeError("'A' object has no attribute 'nchw'")
    monkeypatch.setitem(onnx_rules.HANDLERS, "Relu", broken)
    with pytest.raises(InternalError, match="internal error in rule ONNX Relu at layer relu: "
                                            "AttributeError"):
        cnnstat.analyze(path)


@pytest.mark.torch
def test_onnx_folding_rule_bug_surfaces_bad_constants_do_not(tmp_path, monkeypatch):
    path = _onnx_relu_add(tmp_path)
    from cnnstat.importers import onnx_rules
    monkeypatch.setitem(onnx_rules.FOLD, "Add", lambda imp, np, ins: {}["missing"])
    with pytest.raises(InternalError, match=r"rule ONNX Add \(constant folding\) at layer fold"):
        cnnstat.analyze(path)

    def mismatched(imp, np, ins):                  # what numpy says of constants that clash
        return np.ones((2, 3)) + np.ones((4,))
    monkeypatch.setitem(onnx_rules.FOLD, "Add", mismatched)
    a = cnnstat.analyze(path)                    # left unknown, the import goes on
    assert [r.name for r in a.records] == ["relu", "add"]


def test_a_saved_tensor_rule_bug_is_an_internal_error(net, monkeypatch):
    def memory(self, attrs, inputs, output, ctx):
        raise TypeError("'NoneType' object is not subscriptable")
    monkeypatch.setattr(type(REGISTRY["relu"]), "memory", memory)
    a = cnnstat.analyze(net)
    with pytest.raises(InternalError, match=r"internal error in rule relu \(saved tensors\) at "
                                            "layer act: TypeError"):
        a.memory(train=True)
