"""Benchmark: harness-lsp against `go tool pprof -top` on one large generated profile.

    .venv/bin/python benchmarks/bench_lsp.py [--samples 1000000] [--depth 32] [--keep DIR]

Generates a CPU-style profile (protobuf library) with --samples samples, stacks
--depth frames deep on average (every sample a different stack unless
--distinct says otherwise), 20% of locations with an inlined frame, and a
workspace whose go.mod module owns most of the frames. Then, in one run:
  1. `go tool pprof -top` on the file: wall time and peak RSS;
  2. the server (a real `python -m lsp` process over stdio): time from
     `initialize` (with the file as its profile) to the first inlay-hint
     response on the hottest file;
  3. hover latency over 1,000 requests on that file (p50, p99) once the
     server's background work (call edges) is done, and the hovers sampled
     every 50 ms while it was running;
  4. the server's peak RSS (VmHWM).
Figures are printed side by side; nothing is asserted.
"""
from __future__ import annotations

import argparse
import asyncio
import gzip
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rundir.gosource import go_binary
from rundir.pprof.proto import Profile

MODULE = "example.com/big"
FILES = 40
FUNCS_PER_FILE = 25
LINES_PER_FILE = 1200


def generate(path: Path, ws: Path, samples: int, depth: int, distinct: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    msg = Profile()
    strings: dict[str, int] = {}

    def s(text: str) -> int:
        if text not in strings:
            strings[text] = len(strings)
            msg.string_table.append(text)
        return strings[text]

    s("")
    msg.sample_type.add(type=s("samples"), unit=s("count"))
    msg.sample_type.add(type=s("cpu"), unit=s("nanoseconds"))
    msg.period_type.type, msg.period_type.unit = s("cpu"), s("nanoseconds")
    msg.period, msg.duration_nanos = 10_000_000, samples * 10_000_000 // 8
    funcs = []   # (id, filename, start)
    for f in range(FILES):
        filename = f"{MODULE}/pkg{f}/file{f}.go"
        for k in range(FUNCS_PER_FILE):
            fid = len(funcs) + 1
            start = 1 + k * (LINES_PER_FILE // FUNCS_PER_FILE)
            msg.function.add(id=fid, name=s(f"big/pkg{f}.F{k}"), system_name=s(f"big/pkg{f}.F{k}"),
                             filename=s(filename), start_line=start)
            funcs.append((fid, filename, start))
    for name, file, line in (("runtime.mallocgc", "runtime/malloc.go", 1000),
                             ("runtime.memmove", "runtime/memmove_amd64.s", 100),
                             ("runtime.main", "runtime/proc.go", 250)):
        fid = len(funcs) + 1
        msg.function.add(id=fid, name=s(name), system_name=s(name), filename=s(file), start_line=line)
        funcs.append((fid, file, line))
    own, runtime_funcs = funcs[:-3], funcs[-3:]
    locs = []
    for i in range(4000):
        fid, _file, start = own[rnd.randrange(FUNCS_PER_FILE)] if i < 40 else rnd.choice(own)
        loc = msg.location.add(id=i + 1, address=0x400000 + i * 16)
        if rnd.random() < 0.2:   # an inlined callee first, its caller last
            cid, _f, cstart = rnd.choice(own)
            loc.line.add(function_id=cid, line=cstart + rnd.randrange(1, 40))
        loc.line.add(function_id=fid, line=start + rnd.randrange(1, 40))
        locs.append(i + 1)
    rt_locs = []
    for j, (fid, _file, start) in enumerate(runtime_funcs):
        lid = len(locs) + len(rt_locs) + 1
        msg.location.add(id=lid, address=0x800000 + j * 16).line.add(function_id=fid, line=start + 5)
        rt_locs.append(lid)
    # A sparse call graph (each location calls one of three others), walked from a few roots:
    # deep stacks that are nearly all different, over a realistic number of call edges.
    hot = locs[:40]
    callees = {loc: [rnd.choice(hot) if rnd.random() < 0.3 else rnd.choice(locs) for _ in range(3)]
               for loc in locs}
    roots = locs[100:120]
    shapes = []
    for _ in range(distinct):
        d = max(2, int(rnd.gauss(depth, depth / 4)))
        walk = [rnd.choice(roots)]
        for _ in range(d - 1):
            walk.append(rnd.choice(callees[walk[-1]]))
        stack = walk[::-1]
        if rnd.random() < 0.3:
            stack.insert(0, rt_locs[rnd.randrange(2)])
        stack.append(rt_locs[2])
        shapes.append(stack)
    for n in range(samples):
        msg.sample.add(location_id=shapes[n % distinct], value=[1, 10_000_000])
    path.write_bytes(gzip.compress(msg.SerializeToString(), compresslevel=1))
    (ws / "go.mod").write_text(f"module {MODULE}\n\ngo 1.22\n")
    for f in range(FILES):
        d = ws / f"pkg{f}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"file{f}.go").write_text(f"package pkg{f}\n" + "".join(f"// line {i}\n" for i in range(2, LINES_PER_FILE + 40)))


def bench_pprof(path: Path, timeout: float) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run([go_binary(), "tool", "pprof", "-top", str(path)], capture_output=True, timeout=timeout,
                   check=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, (peak if peak > before else float("nan")) / 1024


def vm_hwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def bench_server(path: Path, ws: Path, hovers: int) -> dict:
    client = LanguageClient("bench", "1")
    t_start = time.perf_counter()
    await client.start_io(sys.executable, "-m", "lsp")
    server_pid = client._server.pid
    t_init = time.perf_counter()
    await client.initialize_async(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=ws.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=ws.as_uri(), name="ws")],
        initialization_options={"harness": {"profile": str(path), "runsDir": str(ws / "runs")}}))
    client.initialized(types.InitializedParams())
    hot_file = ws / "pkg0" / "file0.go"
    uri = hot_file.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(
        uri=uri, language_id="go", version=1, text=hot_file.read_text())))
    rng = types.Range(types.Position(0, 0), types.Position(LINES_PER_FILE + 40, 0))
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(text_document=types.TextDocumentIdentifier(uri=uri), range=rng))
    t_hints = time.perf_counter()
    lines = sorted({h.position.line for h in hints or []}) or [1]
    doc = types.TextDocumentIdentifier(uri=uri)

    async def hover(i: int) -> tuple[float, str]:
        t0 = time.perf_counter()
        res = await client.text_document_hover_async(
            types.HoverParams(text_document=doc, position=types.Position(lines[i % len(lines)], 2)))
        return time.perf_counter() - t0, (res.contents.value if res else "")

    # While the server computes call edges in the background, hovers say so; sample those first.
    warm_lat, i = [], 0
    while True:
        dt, text = await hover(i)
        i += 1
        if "still being computed" not in text:
            break
        warm_lat.append(dt)
        await asyncio.sleep(0.05)
    t_warm = time.perf_counter()
    lat = [(await hover(k))[0] for k in range(hovers)]
    peak = vm_hwm_mb(server_pid)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    lat_sorted, warm_sorted = sorted(lat), sorted(warm_lat) or [float("nan")]
    return {"edges_ready_after_hints_s": t_warm - t_hints, "warm_hovers": len(warm_lat),
            "warm_p50_ms": warm_sorted[len(warm_sorted) // 2] * 1e3, "warm_max_ms": warm_sorted[-1] * 1e3,
            "first_hints_from_initialize_s": t_hints - t_init, "first_hints_from_spawn_s": t_hints - t_start,
            "hints": len(hints or []),
            "hover_p50_ms": lat_sorted[len(lat) // 2] * 1e3,
            "hover_p99_ms": lat_sorted[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3, "server_peak_mb": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=1_000_000)
    ap.add_argument("--depth", type=int, default=32)
    ap.add_argument("--distinct", type=int, default=None, help="distinct stacks (default: one per sample)")
    ap.add_argument("--hovers", type=int, default=1000)
    ap.add_argument("--pprof-timeout", type=float, default=900.0)
    ap.add_argument("--keep", help="directory to keep the generated profile and workspace in")
    ap.add_argument("--reuse", action="store_true", help="reuse the profile already in --keep")
    args = ap.parse_args()
    distinct = args.distinct or args.samples
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-lsp-"))
    ws, prof = root / "ws", root / "big.pb.gz"
    ws.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if args.reuse and prof.exists():
        print(f"reusing {prof}")
    else:
        generate(prof, ws, args.samples, args.depth, distinct)
    print(f"profile {prof} ({os.path.getsize(prof) / 1e6:.1f} MB gzip): {args.samples} samples, "
          f"{distinct} distinct stacks, mean depth {args.depth}, in {time.perf_counter() - t0:.1f}s")
    pprof_wall, pprof_peak = bench_pprof(prof, args.pprof_timeout)
    res = asyncio.run(bench_server(prof, ws, args.hovers))
    print(f"{'measure':44} {'go tool pprof -top':>20} {'harness-lsp':>14}")
    print(f"{'open file -> result (s)':44} {pprof_wall:>20.2f} {res['first_hints_from_initialize_s']:>14.2f}")
    print(f"{'  (server incl. process start, s)':44} {'':>20} {res['first_hints_from_spawn_s']:>14.2f}")
    print(f"{'peak RSS (MB)':44} {pprof_peak:>20.0f} {res['server_peak_mb']:>14.0f}")
    print(f"{'inlay hints on the hottest file':44} {'':>20} {res['hints']:>14}")
    print(f"{'call edges ready after first hints (s)':44} {'':>20} {res['edges_ready_after_hints_s']:>14.2f}")
    during = f"hover during that, p50 / max (ms, n={res['warm_hovers']})"
    print(f"{during:44} {'':>20} "
          f"{res['warm_p50_ms']:>6.1f} / {res['warm_max_ms']:.1f}")
    print(f"{f'hover p50 over {args.hovers} (ms)':44} {'':>20} {res['hover_p50_ms']:>14.2f}")
    print(f"{f'hover p99 over {args.hovers} (ms)':44} {'':>20} {res['hover_p99_ms']:>14.2f}")
    print(f"ratio server/pprof: {res['first_hints_from_initialize_s'] / pprof_wall:.2f}")


if __name__ == "__main__":
    main()
