"""`go tool pprof -top` on a profile, parsed: flat and cum per function in raw units, and the total.

-unit=ns / -unit=B make pprof print integers of the profile's own unit ("2990000000ns", "131072B"),
so the comparison is exact: no rounding to the printed precision.
"""
from __future__ import annotations

import re

from tests.lsp.lspfixtures import go_binary, run

UNIT = {"nanoseconds": "ns", "bytes": "B", "count": ""}
ROW = re.compile(r"^\s*(-?\d+)([a-zA-Z]*)\s+[\d.]+%\s+[\d.]+%\s+(-?\d+)([a-zA-Z]*)\s+[\d.e+-]+%\s+(.+?)"
                 r"(?: \((?:partial-)?inline\))?$")   # pprof marks inlined frames
TOTAL = re.compile(r"of (-?\d+)([a-zA-Z]*) total")


def pprof_top(path, index: int, unit: str) -> tuple[int, dict[str, tuple[int, int]]]:
    """(total, {function: (flat, cum)}) as `go tool pprof -top` prints them for sample type index."""
    assert unit in UNIT, f"no exact -unit for {unit}"
    cmd = [go_binary(), "tool", "pprof", "-top", "-nodefraction=0", "-edgefraction=0", "-nodecount=1000000",
           f"-sample_index={index}"]
    if UNIT[unit]:
        cmd.append(f"-unit={UNIT[unit]}")
    out = run(cmd + [str(path)], timeout=120)
    total, rows, started = None, {}, False
    for text in out.splitlines():
        m = TOTAL.search(text)
        if m and not started:
            total = int(m.group(1))
        if text.strip().startswith("flat"):
            started = True
            continue
        m = ROW.match(text) if started else None
        if m:
            assert m.group(5) not in rows, f"pprof printed {m.group(5)} twice"
            rows[m.group(5)] = (int(m.group(1)), int(m.group(3)))
    assert total is not None, f"no total in pprof's output:\n{out[:2000]}"
    return total, rows
