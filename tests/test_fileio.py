"""cnnstat.fileio (issue 19): only regular files are read or written, temporary names fit
NAME_MAX, a multi-file report is all or nothing — also on a full disk — and a failing run leaves
nothing behind."""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cnnstat import fileio
from cnnstat.errors import DefinitionError, UsageError

ROOT = Path(__file__).resolve().parent.parent


def tree(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


def test_reading_refuses_fifos_devices_and_folders(tmp_path):
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    device = tmp_path / "zero.yaml"
    device.symlink_to("/dev/zero")
    for path, kind in ((fifo, "FIFO"), (device, "character device"), (tmp_path, "directory")):
        with pytest.raises(DefinitionError, match=f"it is a {kind}"):
            fileio.read_input(path)


def test_writing_refuses_what_is_not_a_regular_file(tmp_path):
    fifo = tmp_path / "out.md"
    os.mkfifo(fifo)
    null = tmp_path / "null.md"
    null.symlink_to("/dev/null")
    folder = tmp_path / "folder.md"
    folder.mkdir()
    for path, kind in ((fifo, "FIFO"), (null, "character device"), (folder, "directory")):
        with pytest.raises(UsageError, match=f"is a {kind}"):
            fileio.atomic_write(path, "x")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_ISCHR(os.stat(null).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.md", "null.md", "out.md"]


def test_a_link_to_a_file_writes_the_file(tmp_path):
    real = tmp_path / "real.md"
    real.write_text("old")
    os.chmod(real, 0o600)
    link = tmp_path / "link.md"
    link.symlink_to(real)
    fileio.atomic_write(link, "new")
    assert link.is_symlink() and real.read_text() == "new"
    assert stat.S_IMODE(os.stat(real).st_mode) == 0o600       # the file keeps its mode


def test_temporary_names_fit_name_max(tmp_path):
    target = tmp_path / ("x" * 255)
    fileio.atomic_write(target, "data")
    assert target.read_text() == "data" and [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_failed_write_leaves_no_new_folders(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(fileio, "_write_fd", full)
    with pytest.raises(UsageError, match="No space left on device"):
        fileio.atomic_write(tmp_path / "a" / "b" / "c.md", "x")
    assert list(tmp_path.iterdir()) == []


def test_write_tree_refuses_before_writing(tmp_path):
    (tmp_path / "m" / "m.json").mkdir(parents=True)
    before = tree(tmp_path)
    with pytest.raises(UsageError, match="m.json' is a directory"):
        fileio.write_tree(tmp_path, {"README.md": "i", "m/m.md": "a", "m/m.json": "{}"})
    assert tree(tmp_path) == before


@pytest.mark.parametrize("fail_at", [1, 3, 5])
def test_write_tree_takes_everything_back(tmp_path, monkeypatch, fail_at):
    files = {"README.md": "index", "a/a.md": "A", "a/a.csv": "1", "b/b.md": "B"}
    fileio.write_tree(tmp_path, {k: "old " + v for k, v in files.items() if k != "b/b.md"})
    before = tree(tmp_path)
    real, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == fail_at:
            raise OSError(errno.EIO, "Input/output error")
        real(src, dst)
    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(UsageError, match="Input/output error; nothing written"):
        fileio.write_tree(tmp_path, files)
    monkeypatch.setattr(os, "replace", real)
    assert tree(tmp_path) == before                       # old files back, no temporary folder


def test_write_tree_into_a_new_folder_removes_it_on_failure(tmp_path, monkeypatch):
    monkeypatch.setattr(fileio, "_write_fd", lambda fd, data: (os.close(fd), (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))[1])
    with pytest.raises(UsageError, match="No space left on device; nothing written"):
        fileio.write_tree(tmp_path / "new" / "reports", {"a/a.md": "x"})
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs, where the system lets us mount one (root in a container); else skip."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (the injected ENOSPC tests cover it)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


def _cnnstat(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cnnstat", *args], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=300)


def test_a_full_disk_is_one_error_line_and_leaves_nothing(tiny_disk):
    for args in (["report", "resnet18", "--out", "r"], ["view", "resnet50", "--out", "v.html"],
                 ["params", "resnet152", "--format", "json", "--out", "p.json"]):
        done = _cnnstat(*args, cwd=tiny_disk)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.splitlines()
        assert len(lines) == 1 and "No space left on device" in lines[0], (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert list(tiny_disk.iterdir()) == [], args
