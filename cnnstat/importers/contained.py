"""A Python model's code, run in a child process on the clock (the CLI's way to import
``file.py:Name`` and ``package.module:factory``).

Importing a Python file or module runs its code, and building and tracing the model runs more of
it (``__init__``, ``forward``). That code may never return, call ``sys.exit``, ``os._exit`` or
``os.abort``, raise ``KeyboardInterrupt``, crash the interpreter or exhaust the memory. The CLI
therefore runs it in a child process (``python -m cnnstat.importers.contained``), in its own
session, and waits at most the ``timeout`` limit (``--timeout``, cnnstat.limits): the child
imports, builds and traces the model exactly as the API does in-process
(cnnstat.importers.torch_capture), and sends back the layer graph as plain data (names, operators and
their integer attributes, restored with an unpickler that admits no class but Fraction). However
the child ends, the command prints one ``error:`` line and exits with status 2. What the model's
code prints goes to standard error (standard output is the table's).

This contains accidents, not attacks: the child is the same user, with the same files and
network. Analyze code you would run.
"""

from __future__ import annotations

import io
import os
import pickle
import signal
import subprocess
import sys
import time
from typing import Any

from .. import limits
from ..errors import CnnstatError, DefinitionError, ShapeError, UsageError
from ..graph import Graph, Node
from ..render.escape import elide, terminal

KEEP_OUTPUT = 64 * 1024           # bytes of the child's stdout/stderr kept (the end of it)
_ERRORS = {"CnnstatError": CnnstatError, "DefinitionError": DefinitionError,
           "ShapeError": ShapeError, "UsageError": UsageError,
           "LimitError": limits.LimitError}


# -- the graph as plain data ----------------------------------------------------------------------
def graph_to_data(graph: Graph) -> dict[str, Any]:
    return {"name": graph.name, "meta": dict(graph.meta), "outputs": list(graph.outputs),
            "nodes": [(n.name, n.op, tuple(n.inputs), dict(n.attrs), n.file, n.line, n.shares)
                      for n in graph]}


def graph_from_data(data: dict[str, Any]) -> Graph:
    nodes = [Node(name, op, tuple(inputs), attrs, file, line, shares)
             for name, op, inputs, attrs, file, line, shares in data["nodes"]]
    return Graph(nodes, data["outputs"], name=data["name"], meta=data["meta"])


class _PlainUnpickler(pickle.Unpickler):
    """Builtin containers and scalars only, and fractions.Fraction: nothing callable."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("fractions", "Fraction"):
            from fractions import Fraction
            return Fraction
        raise pickle.UnpicklingError(f"{module}.{name} is not plain data")


def _loads(data: bytes) -> Any:
    return _PlainUnpickler(io.BytesIO(data)).load()


# -- the parent --------------------------------------------------------------------------------------
def load(reference: str, *, input_shape=None, overrides=None, variant=None, args=None,
         **options: Any) -> Graph:
    """The graph of a Python model reference, imported, built and traced in a child process."""
    import selectors
    from .common import no_definition_options
    no_definition_options("an imported PyTorch model", overrides, variant)
    if options:
        raise UsageError(f"unknown option(s) for a PyTorch model: {', '.join(options)}")
    timeout = float(limits.value("timeout"))
    request = pickle.dumps({"reference": reference, "input_shape": input_shape,
                            "args": dict(args or {}), "limits": limits.overrides()})
    result_r, result_w = os.pipe()
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        child = subprocess.Popen(
            [sys.executable, "-m", "cnnstat.importers.contained", str(result_w)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(result_w,), start_new_session=True, env=env)
    except OSError as exc:
        os.close(result_r)
        os.close(result_w)
        raise UsageError(f"cannot start a process to import {reference}: {exc.strerror}") from None
    os.close(result_w)
    started = time.monotonic()
    out_fd, err_fd = child.stdout.fileno(), child.stderr.fileno()
    streams = {result_r: bytearray(), out_fd: bytearray(), err_fd: bytearray()}
    try:
        try:
            child.stdin.write(request)
            child.stdin.close()
        except BrokenPipeError:
            pass
        with selectors.DefaultSelector() as sel:
            for fd in streams:
                sel.register(fd, selectors.EVENT_READ)
            open_fds = set(streams)
            while open_fds:
                left = timeout - (time.monotonic() - started)
                if left <= 0:
                    raise _timed_out(reference, timeout)
                for key, _ in sel.select(min(left, 1.0)):
                    chunk = os.read(key.fd, 1 << 16)
                    if not chunk:
                        sel.unregister(key.fd)
                        open_fds.discard(key.fd)
                        continue
                    buf = streams[key.fd]
                    buf += chunk
                    if key.fd != result_r and len(buf) > 2 * KEEP_OUTPUT:
                        del buf[:-KEEP_OUTPUT]
        left = timeout - (time.monotonic() - started)
        try:
            status = child.wait(max(left, 0.1))
        except subprocess.TimeoutExpired:
            raise _timed_out(reference, timeout) from None
    except BaseException:
        _kill(child)
        raise
    finally:
        os.close(result_r)
        for pipe in (child.stdout, child.stderr):
            pipe.close()
    return _outcome(reference, status, bytes(streams[result_r]), bytes(streams[out_fd]),
                    bytes(streams[err_fd]))


def _timed_out(reference: str, timeout: float) -> CnnstatError:
    return limits.exceeded("timeout", f"importing, building and tracing {reference} took longer "
                           f"than {timeout:g} s (the model's code never returned?)")


def _kill(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        child.wait(5)
    except subprocess.TimeoutExpired:
        pass


def _last_words(err: bytes) -> str:
    lines = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
    return f"; its last output: {elide(lines[-1].strip(), 200)!r}" if lines else ""


def _outcome(reference: str, status: int, result: bytes, out: bytes, err: bytes) -> Graph:
    if result:
        try:
            kind, *payload = _loads(result)
        except Exception:
            raise UsageError(f"importing {reference}: the child process sent back something that "
                             "is not a graph") from None
        _replay(out, err)
        if kind == "graph":
            return graph_from_data(payload[0])
        cls, message, file, line, layer = payload
        raise _ERRORS.get(cls, CnnstatError)(message, file=file, line=line, layer=layer)
    if status < 0:
        try:
            name = signal.Signals(-status).name
        except ValueError:
            name = f"signal {-status}"
        why = {"SIGABRT": " (os.abort, or a failed assertion in a C extension)",
               "SIGSEGV": " (a crash in a C extension)",
               "SIGKILL": " (out of memory?)"}.get(name, "")
        raise UsageError(f"the code of {reference} ended the process with {name}{why} while "
                         f"cnnstat imported and traced it{_last_words(err)}")
    raise UsageError(f"the code of {reference} ended the process (exit status {status}: "
                     f"os._exit?) before cnnstat had traced it{_last_words(err)}")


def _replay(out: bytes, err: bytes) -> None:
    """What the model's code printed, on standard error (escaped for the terminal)."""
    text = (out + err).decode("utf-8", "replace")
    if text.strip():
        sys.stderr.write(terminal(text if text.endswith("\n") else text + "\n"))


# -- the child ---------------------------------------------------------------------------------------
def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    if isinstance(exc, KeyboardInterrupt):
        return "raised KeyboardInterrupt"
    return f"raised {type(exc).__name__}: {elide(str(exc), 300)}"


def child_main(result_fd: int) -> None:
    request = pickle.load(sys.stdin.buffer)                  # from the parent: trusted
    reference = request["reference"]
    try:
        with limits.override(**request["limits"]):
            from .torch_capture import load as load_in_process
            graph = load_in_process(reference, input_shape=request["input_shape"],
                                    args=request["args"])
        result: tuple = ("graph", graph_to_data(graph))
    except CnnstatError as exc:
        result = ("error", type(exc).__name__, exc.message, exc.file, exc.line, exc.layer)
    except RecursionError:
        result = ("error", "UsageError", f"{reference} is nested too deeply for Python's "
                  "recursion limit", None, None, None)
    except MemoryError:
        result = ("error", "UsageError", f"out of memory while importing {reference}", None,
                  None, None)
    except BaseException as exc:                             # SystemExit, KeyboardInterrupt ...
        result = ("error", "UsageError", f"the code of {reference} {_describe(exc)}", None, None,
                  None)
    data = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
    view = memoryview(data)
    while view:
        view = view[os.write(result_fd, view):]
    os.close(result_fd)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(0)


if __name__ == "__main__":
    child_main(int(sys.argv[1]))
