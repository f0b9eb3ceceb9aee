"""The user cache of parsed zoo definitions: read when current, never stale, never in the way."""

from __future__ import annotations

import json
import subprocess
import sys

from cnnstat import cache, zoo
from cnnstat.definition import load_definition
from cnnstat.definition.yamlsrc import LocDict, LocList, from_plain, to_plain

from .conftest import ROOT


def same(a, b) -> bool:
    """Equal values with equal line numbers, all the way down."""
    if type(a) is not type(b):
        return False
    if isinstance(a, LocDict):
        return (a.line, a.lines, list(a)) == (b.line, b.lines, list(b)) and \
            all(same(a[k], b[k]) for k in a)
    if isinstance(a, LocList):
        return (a.line, a.lines, len(a)) == (b.line, b.lines, len(b)) and \
            all(same(x, y) for x, y in zip(a, b))
    return a == b


def test_every_zoo_file_survives_the_round_trip():
    for path in zoo.files():
        doc = load_definition(str(path)).doc
        assert same(doc, from_plain(json.loads(json.dumps(to_plain(doc))))), path


def run(code: str, env: dict) -> str:
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, env=env, timeout=120, check=True)
    return result.stdout.strip()


CODE = ("import sys; from cnnstat import zoo; e = zoo.lookup('vgg16'); "
        "d = zoo.definition(e.path); print(len(zoo.names()), 'yaml' in sys.modules)")


def test_a_warm_start_reads_no_yaml_and_a_damaged_entry_is_parsed_again(tmp_path, monkeypatch):
    env = {**__import__("os").environ, "CNNSTAT_CACHE_DIR": str(tmp_path)}
    names, used_yaml = run(CODE, env).split()
    assert used_yaml == "True" and int(names) == len(zoo.names())
    entries = sorted(p.name for p in tmp_path.iterdir())
    assert len(entries) == len(zoo.files()) + 1          # every definition and the index
    assert run(CODE, env).split() == [names, "False"]    # warm: no YAML parser at all
    for p in tmp_path.iterdir():                         # damaged: parsed again, no error
        p.write_text("{not json")
    assert run(CODE, env).split() == [names, "True"]
    # unwritable (a file where the folder should be) or switched off: the same answers
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert run(CODE, {**env, "CNNSTAT_CACHE_DIR": str(blocked)}).split()[0] == names
    assert run(CODE, {**env, "CNNSTAT_NO_CACHE": "1"}).split() == [names, "True"]


def test_a_changed_file_is_never_read_stale(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNSTAT_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "net.yaml"
    for width in (8, 16):
        path.write_text(f"input: [3, 32, 32]\nlayers:\n  - conv: conv2d({width}, 3)\n")
        for cached in (zoo.definition, zoo._read):
            cached.cache_clear()                        # as a new process would
        first = zoo.definition(path).doc["layers"][0]["conv"]
        zoo.definition.cache_clear()
        again = zoo.definition(path).doc["layers"][0]["conv"]    # from the cache now
        assert first == again == f"conv2d({width}, 3)"
    assert len(list((tmp_path / "cache").iterdir())) == 2
    assert cache.read("no-such-entry.json") is None
