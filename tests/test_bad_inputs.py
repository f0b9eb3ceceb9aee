"""The bad-input corpus (tests/bad_inputs/manifest.yaml) through the real CLI (issues 8 and 19).

Every case runs ``python -m cnnstat ...`` in a subprocess, with a wall-clock timeout and limits
on address space and CPU time (resource.setrlimit in preexec_fn), so a hang or a runaway
allocation fails the test instead of the machine. Each must:
- exit with status 2;
- print exactly one line on standard error, ``error: ...``, containing the expected text, with
  no control character in it;
- print no traceback (on either stream);
- change nothing on disk: the scratch folder (the --out folder, a FIFO or a device given as
  --out, a report folder in the way) is exactly as it was before the run — no report, no
  partial file, no temporary file;
- use at most 2 GB of memory (the largest resident set of the process and its children) and
  30 s of CPU.

Cases that run a Python model (``torch: true``) import torch, which maps more than 2 GB of
address space before it allocates anything: they run with a 4 GB address-space cap, and the
2 GB bound is checked on the resident set.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent / "bad_inputs"
CASES = yaml.safe_load((HERE / "manifest.yaml").read_text(encoding="utf-8"))
TIMEOUT_S = 60              # wall clock: a hang; a case takes a second or two on an idle machine
CPU_S = 30
MEMORY_BYTES = 2 * 1024 ** 3
TORCH_ADDRESS_SPACE = 4 * 1024 ** 3
HUGE_BYTES = 100 * 1024 * 1024
ROOT = HERE.parent.parent


def _limits(address_space: int):
    def apply():
        resource.setrlimit(resource.RLIMIT_AS, (address_space, address_space))
        resource.setrlimit(resource.RLIMIT_CPU, (CPU_S, CPU_S))
    return apply


# -- inputs made at run time ------------------------------------------------------------------------
def _onnx_model(kind: str, path: Path) -> None:
    """A small ONNX file with one defect (onnx.helper; the weights are zeros)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    def init(name, shape, dtype=np.float32):
        return numpy_helper.from_array(np.zeros(shape, dtype), name)

    inits = [init("w", (8, 3, 3, 3))]
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="/conv/Conv")]
    if kind == "onnx_conv_weight":             # 8x5x3x3 on a 3-channel input
        inits = [init("w", (8, 5, 3, 3))]
    elif kind == "onnx_conv_bias":
        inits += [init("b", (7,))]
        nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], name="/conv/Conv")]
    elif kind == "onnx_kernel_shape":
        nodes[0].attribute.append(helper.make_attribute("kernel_shape", [5, 5]))
    elif kind == "onnx_group_float":
        nodes[0].attribute.append(helper.make_attribute("group", 2.9))
    elif kind == "onnx_reshape_two_minus_one":
        inits = [numpy_helper.from_array(np.array([-1, -1], np.int64), "s")]
        nodes = [helper.make_node("Reshape", ["x", "s"], ["y"], name="/r/Reshape")]
    elif kind == "onnx_op_type_escape":
        nodes = [nodes[0], helper.make_node("Frob\x1b[2J", ["y0"], ["y"], name="/f/Frob")]
        nodes[0].output[0] = "y0"
    elif kind == "onnx_batchnorm_scale":
        inits = [init("s", (5,)), init("b", (3,)), init("m", (3,)), init("v", (3,))]
        nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"],
                                  name="/bn/BatchNormalization")]
    elif kind == "onnx_batchnorm_epsilon_nan":
        inits = [init("s", (3,)), init("b", (3,)), init("m", (3,)), init("v", (3,))]
        nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"],
                                  name="/bn/BatchNormalization", epsilon=float("nan"))]
    elif kind == "onnx_gemm_weight":
        inits = [init("w", (10, 100))]
        nodes = [helper.make_node("Flatten", ["x"], ["f"], name="/flatten/Flatten"),
                 helper.make_node("Gemm", ["f", "w"], ["y"], name="/fc/Gemm", transB=1)]
    elif kind == "onnx_matmul_weight":
        inits = [init("w", (100, 10))]
        nodes = [helper.make_node("Flatten", ["x"], ["f"], name="/flatten/Flatten"),
                 helper.make_node("MatMul", ["f", "w"], ["y"], name="/fc/MatMul")]
    elif kind == "onnx_prelu_slope":
        inits = [init("a", (5, 1, 1))]
        nodes = [helper.make_node("PRelu", ["x", "a"], ["y"], name="/act/PRelu")]
    else:
        raise ValueError(kind)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "bad", [x], [y], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)


def _generate(kind: str, tmp: Path) -> Path:
    """Inputs made at run time rather than committed."""
    if kind == "huge":                      # 100 MB of valid-looking YAML: refused by its size
        path = tmp / "huge.yaml"
        line = b"  - conv2d(64, 3, padding=1)  # padding padding padding padding padding\n"
        with open(path, "wb") as handle:
            handle.write(b"input: [3, 224, 224]\nlayers:\n")
            block = line * (1024 * 1024 // len(line))
            while handle.tell() < HUGE_BYTES:
                handle.write(block)
        return path
    if kind == "huge_prototxt":             # 100 MB prototxt: refused by its size, unread
        path = tmp / "huge.prototxt"
        with open(path, "wb") as handle:
            handle.write(b'input: "data"\ninput_shape { dim: 1 dim: 3 dim: 8 dim: 8 }\n')
            block = b'layer { name: "r" type: "ReLU" bottom: "data" top: "data" }\n' * 16384
            while handle.tell() < HUGE_BYTES:
                handle.write(block)
        return path
    if kind == "braces_prototxt":           # 100,000 nested messages
        path = tmp / "braces.prototxt"
        path.write_text('name: "n"\n' + "a {" * 100_000 + "}" * 100_000 + "\n")
        return path
    if kind == "folder":                    # a directory whose name looks like a definition
        path = tmp / "folder.yaml"
        path.mkdir()
        return path
    if kind in ("folder_prototxt", "folder_onnx"):
        path = tmp / ("folder." + kind.split("_")[1])
        path.mkdir()
        return path
    if kind == "plain_file":
        path = tmp / "plain_file"
        path.write_text("not a folder\n")
        return path
    if kind.startswith("fifo_"):            # a named pipe: reading it would block for ever
        path = tmp / ("pipe." + kind.split("_", 1)[1])
        os.mkfifo(path)
        return path
    if kind == "device_yaml":               # a character device under a definition's name
        path = tmp / "device.yaml"
        path.symlink_to("/dev/zero")
        return path
    if kind == "symlink_loop_yaml":
        path = tmp / "loop.yaml"
        path.symlink_to(tmp / "loop.yaml")
        return path
    if kind == "empty_onnx":
        path = tmp / "empty.onnx"
        path.write_bytes(b"")
        return path
    if kind.startswith("onnx_"):
        path = tmp / f"{kind}.onnx"
        _onnx_model(kind, path)
        return path
    if kind == "out_fifo":                  # --out targets that are not regular files
        os.mkfifo(tmp / "out.fifo")
        return tmp / "out.fifo"
    if kind == "out_fifo_png":
        os.mkfifo(tmp / "plot.png")
        return tmp / "plot.png"
    if kind == "out_device":                # a link to /dev/null: as root, replacing it would
        (tmp / "null.md").symlink_to("/dev/null")    # replace the real /dev/null
        return tmp / "null.md"
    if kind == "out_folder":
        (tmp / "folder.md").mkdir()
        return tmp / "folder.md"
    if kind == "report_in_the_way":         # a report whose third file's name is a folder
        (tmp / "r" / "lenet5" / "lenet5.json").mkdir(parents=True)
        return tmp / "r"
    raise ValueError(kind)


def _argv(case: dict, file: Path | None, tmp: Path, out: Path) -> list[str]:
    argv = case.get("argv", ["params", "{file}"])
    argv = [a.format(file=file, tmp=tmp, here=HERE) for a in argv]
    if case.get("out", True):
        argv += ["--out", str(out / "report.md")]
    return argv


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under root with its kind and, for a small regular file, its content hash."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            try:
                st = os.lstat(path)
            except OSError:
                continue
            kind = oct(st.st_mode)
            if path.is_file() and not path.is_symlink() and st.st_size < 1 << 20:
                kind += " " + hashlib.sha256(path.read_bytes()).hexdigest()
            out[str(path.relative_to(root))] = kind
    return out


def test_corpus_is_complete():
    # one file per case, every file used, at least 40 failure kinds
    files = {c["file"] for c in CASES if "file" in c}
    on_disk = {p.name for p in HERE.iterdir() if p.is_file()} - {"manifest.yaml"}
    assert on_disk == files, sorted(on_disk ^ files)
    assert len(CASES) >= 200 and len({c["name"] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_bad_input_fails_cleanly(case, tmp_path):
    file = None
    if "file" in case:
        file = tmp_path / case["file"]
        shutil.copyfile(HERE / case["file"], file)
    if "generate" in case:
        made = _generate(case["generate"], tmp_path)
        file = file or made
    out = tmp_path / "out"
    out.mkdir()
    argv = [sys.executable, "-m", "cnnstat"] + _argv(case, file, tmp_path, out)
    env = {**os.environ, "COLUMNS": "120", "PYTHONPATH": str(ROOT)}
    env.update({k: str(v) for k, v in case.get("env", {}).items()})
    before = _snapshot(tmp_path)
    how = case.get("stdout")
    stdout = open("/dev/full", "w") if how == "full" else None if how == "closed" \
        else subprocess.PIPE
    space = TORCH_ADDRESS_SPACE if case.get("torch") else MEMORY_BYTES
    proc, out_text, err_text, usage, elapsed = _run(
        argv, cwd=tmp_path, stdout=stdout, env=env,
        preexec_fn=_closing_stdout(_limits(space), case.get("stdout")))
    if hasattr(stdout, "close"):
        stdout.close()
    if proc is None:
        pytest.fail(f"{case['name']}: no answer within {TIMEOUT_S} s (a hang)")
    if os.environ.get("CNNSTAT_CASE_LOG"):        # wall time and memory of every case, to review
        with open(os.environ["CNNSTAT_CASE_LOG"], "a", encoding="utf-8") as log:
            log.write(f"{elapsed:.2f}\t{usage.ru_maxrss}\t{case['name']}\n")
    out_text = out_text or ""
    lines = err_text.splitlines()
    shown = f"{case['name']}: exit {proc.returncode}, stderr {err_text!r}"
    assert "Traceback" not in err_text + out_text, shown
    assert proc.returncode == 2, shown
    assert len(lines) == 1 and lines[0].startswith("error: "), shown
    assert case["expect"].format(tmp=tmp_path) in lines[0], shown
    assert not any(ord(c) < 32 or 0x7f <= ord(c) < 0xa0 for c in lines[0]), shown
    assert _snapshot(tmp_path) == before, f"{case['name']}: the run changed files on disk"
    assert usage.ru_maxrss * 1024 <= MEMORY_BYTES, f"{case['name']}: {usage.ru_maxrss} KB"
    assert elapsed < TIMEOUT_S


def _run(argv: list[str], stdout, **kwargs):
    """Run ``argv``; (process, stdout, stderr, its resource usage, seconds), or (None, ...) on a
    hang. The usage comes from wait4: this process and its children (a Python model's code runs
    in a child), not the test process's other children."""
    import threading
    started = time.monotonic()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **kwargs)
    chunks: dict[str, str] = {"out": "", "err": ""}

    def read(stream, key):
        chunks[key] = stream.read()
    readers = [threading.Thread(target=read, args=(proc.stderr, "err"), daemon=True)]
    if proc.stdout is not None:
        readers.append(threading.Thread(target=read, args=(proc.stdout, "out"), daemon=True))
    for t in readers:
        t.start()
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() - started > TIMEOUT_S:
            os.killpg(proc.pid, 9)
            os.wait4(proc.pid, 0)
            return None, "", "", None, TIMEOUT_S
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in readers:
        t.join(10)
    return proc, chunks["out"], chunks["err"], usage, time.monotonic() - started


def _closing_stdout(apply, how):
    def preexec():
        apply()
        if how == "closed":
            os.close(1)
    return preexec
