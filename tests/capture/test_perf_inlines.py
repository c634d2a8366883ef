"""perf frames in Go code get their inlined calls expanded (the binary's DWARF), as the Go
runtime's own profiles do: a real binary, a real call site inside inlined code."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from harness import proc
from harness.capture.perf import Symbolizer
from rundir.gosource import go_binary
from tests.images import GO_ENV, build_go_binary

SRC = Path(__file__).parent / "inlprog"


def marker(text: str) -> int:
    return next(i for i, line in enumerate((SRC / "main.go").read_text().splitlines(), 1) if text in line)


@pytest.fixture(scope="module")
def binary(tmp_path_factory) -> Path:
    return build_go_binary(SRC, tmp_path_factory.mktemp("inl") / "inlprog")


def call_in_run(binary: Path) -> int:
    """Address of the CALL that the inlined crc64.Update makes from inside main.run."""
    dump = proc.run([go_binary(), "tool", "objdump", "-s", "^main.run$", str(binary)], timeout=60).stdout
    calls = [int(m[1], 16) for m in re.finditer(r"\s(0x[0-9a-f]+)\s+\S+\s+CALL hash/crc64\.", dump)]
    assert calls, dump
    return calls[0]


def test_an_inlined_call_reads_as_its_line_then_its_callers(binary):
    sym = Symbolizer(str(binary), go=go_binary())
    pc = call_in_run(binary)
    frames = sym.frames([pc])[pc]
    names = [f for f, _file, _line in frames]
    # crc64.Update inlined into step, step inlined into run: three frames, innermost first
    assert names == ["hash/crc64.Update", "main.step", "main.run"], frames
    assert [(Path(f).name, line) for _fn, f, line in frames[1:]] == [
        ("main.go", marker("// STEP LINE")), ("main.go", marker("// RUN LINE"))]


def test_without_dwarf_one_frame_from_addr2line(binary, tmp_path):
    stripped = tmp_path / "stripped"
    proc.run([go_binary(), "build", "-ldflags=-w", "-o", str(stripped), "."], cwd=str(binary.parent / "src"),
             env={**os.environ, **GO_ENV}, timeout=300)
    sym = Symbolizer(str(stripped), go=go_binary())
    pc = call_in_run(stripped)
    frames = sym.frames([pc])[pc]
    assert len(frames) == 1 and frames[0][0] == "main.run", frames     # the outer function, no expansion
