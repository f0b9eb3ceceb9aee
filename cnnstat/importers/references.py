"""Which Python model references cnnstat will import and call (no torch here).

``package.module:factory`` and ``file.py:Name`` name something that builds a ``torch.nn.Module``:
a module class, a function returning a module, or a module instance. Importing the module or
file runs its code (that is how Python works, and what cnnstat does: analyze code you would
run). What is refused, before anything is imported or called:

- a module of Python's standard library (``os:system``, ``subprocess:run``, ``sys:exit``,
  ``builtins:eval`` ...), and packages whose functions load or run arbitrary objects
  (``torch.serialization``/``torch.load``, ``torch.hub``, ``pickle``-like loaders, ``numpy``);
- attribute paths through dunder names (``Net.__init__.__globals__``).

And, once imported (cnnstat.importers.torch_models): a class that is not an ``nn.Module``
subclass, a built-in function, or a function defined in one of the refused modules (reached
through a file, ``net.py:os.system``); and whatever a factory returns must be an ``nn.Module``.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from ..errors import UsageError
from ..render.escape import error_line

#: packages (and their submodules) with no model factories, whose callables load or run
#: arbitrary objects or commands
REFUSED_PACKAGES = ("torch.serialization", "torch.hub", "torch.package", "torch.load",
                    "numpy", "pandas", "dill", "joblib", "cloudpickle", "cnnstat")

_PY_FILE = re.compile(r"^(?P<file>.+\.py):(?P<attr>[A-Za-z_][A-Za-z0-9_.]*)$")


def refused_module(name: str) -> str | None:
    """Why a module (dotted name) cannot hold model factories, or None."""
    top = name.split(".", 1)[0]
    if top in sys.stdlib_module_names or top in ("__main__", "__mp_main__"):
        return "is part of Python's standard library"
    for package in REFUSED_PACKAGES:
        if name == package or name.startswith(package + "."):
            return "loads or runs arbitrary objects, it does not build models"
    return None


def check_reference(reference: str) -> None:
    """Refuse a reference before anything is imported (see the module docstring)."""
    if reference.startswith("torchvision:"):
        return
    m = _PY_FILE.match(reference)
    target, _, attr = reference.rpartition(":")
    if any(part.startswith("__") and part.endswith("__") for part in attr.split(".")):
        raise UsageError(f"'{error_line(reference, 200)}': a model reference cannot go through "
                         "dunder attributes; name the class or factory itself")
    if m is not None:                      # the file is read only if it is a regular file
        import os
        if not os.path.lexists(m.group("file")):
            raise UsageError(f"Python file '{error_line(m.group('file'), 300)}' does not exist")
        from ..fileio import check_input
        check_input(m.group("file"), "the Python file")
    else:
        why = refused_module(target)
        if why:
            raise UsageError(f"'{error_line(reference, 200)}': '{target}' {why}: module:factory "
                             "names a class or function that builds a torch.nn.Module")


def refused_callable(obj: Any) -> str | None:
    """Why ``obj`` (a callable named by a reference) is no model factory, or None."""
    import functools
    import inspect
    while isinstance(obj, functools.partial):
        obj = obj.func
    if inspect.isbuiltin(obj) or type(obj).__name__ in ("builtin_function_or_method",
                                                        "method-wrapper", "wrapper_descriptor"):
        return "a built-in function"
    owner = getattr(obj, "__module__", None) if (inspect.isfunction(obj) or inspect.ismethod(obj)
                                                 or inspect.isclass(obj)) \
        else type(obj).__module__
    if isinstance(owner, str):
        why = refused_module(owner)
        if why:
            return f"from '{owner}', which {why}"
    return None
