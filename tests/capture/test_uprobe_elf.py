"""Go functions found in a real binary (uprobe_prog/, built here): symbol, RETs, source line,
the errors for an inlined function, a typo and a function that never returns, and the
perf probe arguments. No perf, no root, no Docker."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness.capture.uprobes.elf import FETCH, find_function, probe_specs
from harness.errors import HarnessError
from tests.images import build_go_binary

SRC = Path(__file__).parent / "uprobe_prog"


def func_line(name: str) -> int:
    return next(i for i, text in enumerate((SRC / "main.go").read_text().splitlines(), 1)
                if text.startswith("func ") and f" {name}(" in text)


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    return build_go_binary(SRC, tmp_path_factory.mktemp("uprobe") / "uprobeprog")


def ret_bytes(binary: Path, fn) -> set[bytes]:
    """The bytes at each RET's file offset: what a uprobe there would replace."""
    data = binary.read_bytes()
    return {data[fn.file_offset + off:fn.file_offset + off + 1] for off in fn.returns}


@pytest.mark.parametrize("name,short,min_rets", [
    ("main.slow", "slow", 1), ("main.twoWays", "twoWays", 2), ("main.recurse", "recurse", 2),
    ("main.(*Store).Get", "Get", 1)])
def test_each_kind_of_function(binary, name, short, min_rets):
    fn = find_function(binary, name)
    assert fn.name == name and fn.size > 0 and len(fn.returns) >= min_rets
    assert all(0 < off < fn.size for off in fn.returns) and list(fn.returns) == sorted(fn.returns)
    assert ret_bytes(binary, fn) == {b"\xc3"}              # the file offset lands on the RETs
    assert Path(fn.file).name == "main.go" and fn.line == func_line(short)
    assert fn.file_offset == fn.address - 0x400000          # a static amd64 binary's first PT_LOAD


def test_an_inlined_function_says_so(binary):
    with pytest.raises(HarnessError, match="inlined into its callers") as e:
        find_function(binary, "main.tiny")
    assert e.value.hint == "mark it //go:noinline, or probe its caller"


def test_a_typo_shows_near_names(binary):
    with pytest.raises(HarnessError, match=r"no function main\.slwo in") as e:
        find_function(binary, "main.slwo")
    assert "main.slow" in e.value.seen.split(", ") and "main.handler" in e.value.hint


@pytest.mark.parametrize("name,instance", [("main.Sum", "main.Sum[go.shape.int]"),
                                           ("main.(*Box).Get", "main.(*Box[go.shape.int]).Get")])
def test_a_generic_name_without_its_shape_lists_its_instances(binary, name, instance):
    with pytest.raises(HarnessError, match="is generic: name one of its instances") as e:
        find_function(binary, name)
    assert instance in e.value.seen.split(", "), e.value.seen
    assert find_function(binary, instance).name == instance         # and the instance is found


def test_a_short_name_shows_the_full_ones(binary):
    with pytest.raises(HarnessError) as e:
        find_function(binary, "Get")
    assert "main.(*Store).Get" in e.value.seen.split(", ") and len(e.value.seen.split(", ")) <= 5


def test_a_function_that_never_returns(binary):
    with pytest.raises(HarnessError, match="no RET") as e:
        find_function(binary, "main.main")
    assert "caller" in e.value.hint


def test_not_an_elf_binary(tmp_path):
    (tmp_path / "x").write_text("#!/bin/sh\n")
    with pytest.raises(HarnessError, match="not an ELF"):
        find_function(tmp_path / "x", "main.main")


def test_probe_specs(binary):
    fn = find_function(binary, "main.twoWays")
    specs = probe_specs("hxlat", 3, fn)
    assert FETCH == "g=%r14 hi=+8(%r14):u64 sp=%sp"
    assert specs[0] == f"hxlat:f3_in={fn.file_offset:#x} {FETCH}"
    assert specs[1:] == [f"hxlat:f3_r{k}={fn.file_offset + off:#x} {FETCH}"
                         for k, off in enumerate(fn.returns, 1)]
    with pytest.raises(HarnessError, match="not a valid perf event group"):
        probe_specs("hx-lat", 0, fn)
