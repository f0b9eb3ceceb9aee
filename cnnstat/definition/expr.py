"""A small, safe evaluator for the arithmetic written in definitions.

Expressions are parsed with Python's ``ast`` module (parsing only, never ``eval``) and evaluated by
walking a whitelist of node types: numbers, strings, names, lists/tuples, indexing, + - * / // % **,
comparisons, and/or/not, ``a if cond else b`` and calls of a few pure functions (``BUILTINS``).
Attribute access, comprehensions, lambdas and everything else are rejected. Results are bounded:
integers beyond 2**53, non-finite floats, long strings/lists and huge exponents are errors.

The work is bounded too (cnnstat.limits), by a :class:`Budget` shared by every expression of one
model: each evaluation step costs one, and each operation on lists costs what it touches (a
comparison the elements of both sides, a concatenation its result), so ``sum(d, [])`` over a
list of 10⁴ lists of 10⁴ stops at once instead of running for minutes. A value may hold at most
the ``value_size`` limit of elements, nested lists counted in full (a list of a list of a list
that share their items is as large as it looks).

A name resolves through a caller-provided lookup (variables, block parameters, layer names).
"""

from __future__ import annotations

import ast
import math
import operator
from functools import lru_cache
from typing import Any, Callable

from .. import limits
from ..errors import DefinitionError
from ..render.escape import elide, show

MAX_SOURCE = 2000
MAX_INT = 2 ** 53
MAX_LEN = 10_000


class ExprError(DefinitionError):
    pass


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without going more than 10% below it
    (torchvision's ``_make_divisible``, from the TensorFlow MobileNet code)."""
    if divisor <= 0:
        raise ExprError(f"make_divisible: divisor must be positive, got {divisor}")
    if min_value is None:
        min_value = divisor
    new_value = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new_value < 0.9 * value:
        new_value += divisor
    return new_value


def _minmax(fn: Callable) -> Callable:
    def apply(*args: Any) -> Any:
        if len(args) == 1 and isinstance(args[0], (list, tuple)):
            args = tuple(args[0])
        if not args:
            raise ExprError(f"{fn.__name__}() needs at least one value")
        return fn(args)
    apply.__name__ = fn.__name__
    return apply


def _range(*args: int) -> list[int]:
    values = range(*args)
    if len(values) > MAX_LEN:
        raise ExprError(f"range() of {len(values)} values is too long")
    return list(values)


def _sum(values: Any, start: Any = 0) -> Any:
    """``sum``: numbers, or lists concatenated in linear time (Python's sum of lists is
    quadratic), stopping as soon as the result is too long."""
    if not isinstance(values, (list, tuple)):
        raise ExprError(f"sum() needs a list, got {show(values, 60)}")
    if isinstance(start, (list, tuple)):
        out = list(start)
        for v in values:
            if not isinstance(v, (list, tuple)):
                raise ExprError(f"sum() of lists: {show(v, 60)} is not a list")
            out.extend(v)
            if len(out) > MAX_LEN:
                raise ExprError(f"sum() of lists is longer than {MAX_LEN:,} values")
        return out
    total = start
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ExprError(f"sum() of numbers: {show(v, 60)} is not a number")
        total += v
        if abs(total) > MAX_INT:
            raise ExprError(f"sum() is too large")
    return total


def _fail(message: str) -> Any:
    """``fail("...")``: the definition's own error, for arguments it cannot take
    (``row: table[groups] if groups in [1, 2, 3, 4, 8] else fail("groups must be 1, 2, 3, 4 or 8")``)."""
    raise ExprError(elide(str(message), 300))


BUILTINS: dict[str, Callable[..., Any]] = {
    "make_divisible": make_divisible,
    "round": round,
    "ceil": math.ceil,
    "floor": math.floor,
    "sqrt": math.sqrt,
    "min": _minmax(min),
    "max": _minmax(max),
    "abs": abs,
    "int": int,
    "float": float,
    "len": len,
    "sum": _sum,
    "range": _range,
    "fail": _fail,
}
CONSTANTS = {"true": True, "false": False, "none": None, "True": True, "False": False,
             "None": None}

_BINOPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_CMPOPS = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
}


@lru_cache(maxsize=4096)
def parse(source: str) -> ast.expr:
    """Parse one expression (cached: zoo files repeat the same expressions many times)."""
    if len(source) > MAX_SOURCE:
        raise ExprError(f"expression is longer than {MAX_SOURCE} characters")
    try:
        return ast.parse(source.strip(), mode="eval").body
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        hint = ""
        if source.count("(") != source.count(")") or source.count("[") != source.count("]"):
            hint = (" (inside a YAML [flow, list] a comma ends the item: quote calls that contain "
                    "commas, or use one item per line)")
        raise ExprError(f"cannot parse expression '{elide(source, 200)}'{where}: {exc.msg}{hint}") \
            from None
    except (RecursionError, MemoryError, ValueError):
        raise ExprError(f"expression '{source[:60]}...' is nested too deeply") from None


class Budget:
    """The evaluation steps left for one model's expressions (the ``expr_steps`` limit), and the
    size of every list value met (memoized by identity: values share their items)."""

    def __init__(self, steps: int | None = None, max_size: int | None = None):
        self.limit = steps if steps is not None else limits.int_value("expr_steps")
        self.left = self.limit
        self.max_size = max_size if max_size is not None else limits.int_value("value_size")
        self._sizes: dict[int, tuple[Any, int]] = {}

    def charge(self, steps: int, ev: "Evaluator") -> None:
        self.left -= steps
        if self.left < 0:
            where = f" (at '{elide(ev.source, 120)}')" if ev.source else ""
            raise limits.exceeded("expr_steps", f"evaluating the definition's expressions takes "
                                  f"more than {self.limit:,} steps{where}")

    def size(self, value: Any) -> int:
        """Elements of a value, nested lists counted in full (1 for a scalar)."""
        if not isinstance(value, (list, tuple)):
            return 1
        known = self._sizes.get(id(value))
        if known is not None and known[0] is value:
            return known[1]
        # iterative post-order: no recursion limit on deeply nested values
        stack: list[tuple[Any, bool]] = [(value, False)]
        while stack:
            item, children_done = stack.pop()
            if self._sizes.get(id(item), (None,))[0] is item:
                continue
            nested = [v for v in item if isinstance(v, (list, tuple))
                      and self._sizes.get(id(v), (None,))[0] is not v]
            if nested and not children_done:
                stack.append((item, True))
                stack.extend((v, False) for v in nested)
                continue
            total = len(item) + sum(self._sizes[id(v)][1] for v in item
                                    if isinstance(v, (list, tuple)))
            self._sizes[id(item)] = (item, total)
        return self._sizes[id(value)][1]


class Evaluator:
    """Evaluates parsed expressions; ``lookup(name)`` resolves names (raise KeyError if unknown).
    ``budget``: the steps shared by all expressions of a model (a fresh one if not given)."""

    def __init__(self, lookup: Callable[[str], Any], source: str = "",
                 budget: Budget | None = None):
        self.lookup = lookup
        self.source = source
        self.budget = budget if budget is not None else Budget()

    def fail(self, message: str) -> ExprError:
        return ExprError(f"{message} (in '{elide(self.source, 200)}')" if self.source else message)

    def __call__(self, node: ast.expr) -> Any:
        try:
            return self.eval(node)
        except RecursionError:
            raise self.fail("expression nested too deeply") from None

    def eval(self, node: ast.expr) -> Any:
        method = getattr(self, "eval_" + type(node).__name__, None)
        if method is None:
            raise self.fail(f"{_describe(node)} is not allowed in expressions")
        self.budget.charge(1, self)
        return _check(method(node), self)

    def cost(self, *values: Any) -> None:
        """Charge the elements an operation touches."""
        steps = sum(self.budget.size(v) if isinstance(v, (list, tuple)) else
                    len(v) // 64 if isinstance(v, str) else 0 for v in values)
        if steps:
            self.budget.charge(steps, self)

    def eval_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, (int, float, str, bool)) or node.value is None:
            return node.value
        raise self.fail(f"constant {show(node.value, 60)} is not allowed")

    def eval_Name(self, node: ast.Name) -> Any:
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        try:
            return self.lookup(node.id)
        except KeyError:
            raise self.fail(f"unknown name '{node.id}'") from None

    def eval_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.eval(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        _number(value, self)
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return +value
        raise self.fail("operator ~ is not allowed")

    def eval_BinOp(self, node: ast.BinOp) -> Any:
        fn = _BINOPS.get(type(node.op))
        if fn is None:
            raise self.fail(f"operator {type(node.op).__name__} is not allowed")
        left, right = self.eval(node.left), self.eval(node.right)
        if isinstance(node.op, ast.Add) and (
                (isinstance(left, str) and isinstance(right, str))
                or (isinstance(left, list) and isinstance(right, list))):
            if len(left) + len(right) > MAX_LEN:
                raise self.fail(f"a value of length {len(left) + len(right)} is too long")
            self.budget.charge(len(left) + len(right), self)
            return left + right
        _number(left, self)
        _number(right, self)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > MAX_INT):
            raise self.fail(f"power {left} ** {right} is too large")
        try:
            return fn(left, right)
        except ZeroDivisionError:
            raise self.fail("division by zero") from None
        except (OverflowError, ValueError) as exc:
            raise self.fail(f"arithmetic error: {exc}") from None

    def eval_BoolOp(self, node: ast.BoolOp) -> Any:
        value: Any = None
        for operand in node.values:
            value = self.eval(operand)
            if isinstance(node.op, ast.And) and not value:
                return value
            if isinstance(node.op, ast.Or) and value:
                return value
        return value

    def eval_Compare(self, node: ast.Compare) -> bool:
        left = self.eval(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            right = self.eval(comparator)
            fn = _CMPOPS.get(type(op))
            if fn is None:
                raise self.fail(f"comparison {type(op).__name__} is not allowed")
            self.cost(left, right)
            try:
                ok = fn(left, right)
            except TypeError:
                raise self.fail(f"cannot compare {_show(left)} and {_show(right)}") from None
            if not ok:
                return False
            left = right
        return True

    def eval_IfExp(self, node: ast.IfExp) -> Any:
        return self.eval(node.body) if self.eval(node.test) else self.eval(node.orelse)

    def eval_Subscript(self, node: ast.Subscript) -> Any:
        container = self.eval(node.value)
        if not isinstance(container, (list, tuple, str)):
            raise self.fail(f"{_show(container)} cannot be indexed")
        if isinstance(node.slice, ast.Slice):
            parts = [None if p is None else self.eval(p)
                     for p in (node.slice.lower, node.slice.upper, node.slice.step)]
            if any(p is not None and not _is_int(p) for p in parts) or parts[2] == 0:
                raise self.fail("slice bounds must be integers")
            result = container[slice(*parts)]
            self.budget.charge(len(result), self)
            return result
        index = self.eval(node.slice)
        if not _is_int(index):
            raise self.fail(f"index {_show(index)} is not an integer")
        try:
            return container[index]
        except IndexError:
            raise self.fail(f"index {index} is out of range (length {len(container)})") from None

    def eval_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name):
            raise self.fail("only named functions can be called")
        name = node.func.id
        fn = BUILTINS.get(name)
        if fn is None:
            raise self.fail(f"'{name}' is not a function usable inside an expression "
                            f"(functions: {', '.join(sorted(BUILTINS))})")
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise self.fail("* and ** arguments are not allowed")
        args = [self.eval(a) for a in node.args]
        kwargs = {k.arg: self.eval(k.value) for k in node.keywords}
        self.cost(*args, *kwargs.values())
        try:
            result = fn(*args, **kwargs)
        except ExprError as exc:
            if name == "fail":
                raise
            raise self.fail(exc.message) from None
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
            raise self.fail(f"{name}(): {elide(str(exc), 200)}") from None
        self.cost(result)
        return result

    def eval_List(self, node: ast.List) -> list:
        self.budget.charge(len(node.elts), self)
        return [self.eval(e) for e in node.elts]

    eval_Tuple = eval_List


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(value: Any, ev: Evaluator) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ev.fail(f"{_show(value)} is not a number")


def _show(value: Any) -> str:
    name = getattr(value, "describe_value", None)
    return name() if name else show(value, 100)


def _check(value: Any, ev: Evaluator) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) > MAX_INT:
            raise ev.fail(f"value {value:.3g} is too large")
    elif isinstance(value, float):
        if not math.isfinite(value) or abs(value) > MAX_INT:
            raise ev.fail(f"value {value} is too large or not finite")
    elif isinstance(value, (str, list, tuple)) and len(value) > MAX_LEN:
        raise ev.fail(f"a value of length {len(value)} is too long")
    if isinstance(value, (list, tuple)):
        size = ev.budget.size(value)
        if size > ev.budget.max_size:
            raise limits.exceeded("value_size", ev.fail(
                f"a value of {size:,} elements, nested lists counted in full, is too large").message)
    return value


def _describe(node: ast.AST) -> str:
    names = {"Attribute": "attribute access (a.b)", "Lambda": "lambda", "ListComp": "a comprehension",
             "GeneratorExp": "a generator", "DictComp": "a comprehension", "SetComp": "a comprehension",
             "Dict": "a {} mapping", "Set": "a set", "NamedExpr": ":=", "JoinedStr": "an f-string",
             "Await": "await", "Yield": "yield", "Starred": "*"}
    return names.get(type(node).__name__, type(node).__name__)


def evaluate(source: str, lookup: Callable[[str], Any], budget: Budget | None = None) -> Any:
    """Parse and evaluate one expression."""
    return Evaluator(lookup, source, budget)(parse(source))
