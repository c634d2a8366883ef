"""Benchmark: the report's flame graph in headless Chromium on large generated profiles.

    .venv/bin/python benchmarks/bench_flame_view.py [--samples 200000] [--depth 32] [--repeat 5]

Generates two CPU profiles (benchmarks/bench_lsp.py's generator, different seeds) as the baseline
and fault phases of a run directory, writes its report (harness.report.writer.write_all: every tree
at the report's bound), and a page with one exact 5,000-frame tree (min_fraction 0, max_nodes 5,000);
then, in headless Chromium (tests/browser.py), the median of --repeat loads of each page:
  - parse, decode and first draw of the graph, in the page (data-render-ms);
  - navigation until the first frame is drawn (wall);
  - a click on the widest child of the root: mousedown until the zoomed frames are drawn, and
    until the next animation frame after that (painted).
Also the report's size and the frames it embeds. Figures are printed; nothing is asserted.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench_lsp import generate  # benchmarks/ is on sys.path when run as a script

from harness.report import flame_view
from harness.report.rundata import load_run
from harness.report.writer import write_all
from rundir.pprof import load_profile
from rundir.pprof.flame import build_flame, walk
from tests.browser import Browser

CLICK = """(async () => { const v = document.querySelector('.flame').harnessFlame;
  const i = v.model.kids[0][0]; const el = v.frames.querySelector('[data-i="' + i + '"]'); const r = el.getBoundingClientRect();
  return {x: r.left + Math.min(r.width / 2, 30), y: r.top + r.height / 2, frames: v.frames.childElementCount}; })()"""


def make_run(root: Path, samples: int, depth: int) -> Path:
    run = root / "bench-run"
    ws = root / "ws"
    ws.mkdir(parents=True)
    artifacts = []
    for seed, phase in ((1, "baseline"), (2, "fault")):
        rel = f"profiles/{phase}/api/cpu.pb.gz"
        (run / rel).parent.mkdir(parents=True)
        generate(run / rel, ws, samples, depth, samples, seed=seed)
        artifacts.append({"kind": "cpu", "service": "api", "phase": phase, "path": rel, "start_s": 0.0,
                          "end_s": 10.0, "sample_types": ["samples/count", "cpu/nanoseconds"]})
    manifest = {"schema_version": 1, "run_id": "bench-run", "scenario": {"name": "bench"},
                "clock": {"wall_t0": 1.0, "wall_t0_iso": "2026-11-22T12:00:00.000Z", "mono_t0": 1.0},
                "phases": [{"name": "baseline", "start_s": 0.0, "end_s": 10.0, "faults": []},
                           {"name": "fault", "start_s": 10.0, "end_s": 20.0, "faults": ["f1"]}],
                "baseline_phase": "baseline",
                "services": {"api": {"source_root": str(ws), "module": "example.com/big", "limits": {}}},
                "artifacts": artifacts, "faults": [], "events": [],
                "result": {"status": "completed", "exit_code": 0, "end_s": 20.0}}
    (run / "manifest.json").write_text(json.dumps(manifest))
    return run


def exact_page(run: Path, out: Path) -> int:
    """A page with the fault profile's tree at 5,000 frames; returns its frame count."""
    tree = build_flame(load_profile(run / "profiles/fault/api/cpu.pb.gz"), "cpu", min_fraction=0, max_nodes=5000,
                       is_own=lambda f: f.startswith("example.com/big"))
    graph = {"dims": {}, "title": "exact tree, 5,000 frames", "tree": tree}
    out.write_text("<!doctype html><html><head><meta charset='utf-8'></head><body style='max-width:1100px'>"
                   + flame_view.embed([graph], "flame-data") + "</body></html>")
    return sum(1 for _ in walk(tree))


def measure(b: Browser, page: Path, repeat: int) -> dict:
    rows = []
    for _ in range(repeat):
        t0 = time.monotonic()
        b.goto(page.as_uri(), "!!document.querySelector('.flame .hf-f')")
        wall = (time.monotonic() - t0) * 1000
        render = float(b.eval("document.querySelector('.flame').getAttribute('data-render-ms')"))
        b.eval("document.querySelector('.flame').scrollIntoView()")
        target = b.eval(CLICK)
        b.eval("document.addEventListener('mousedown', () => { window.clickAt = performance.now(); }, true)")
        b.click(target["x"], target["y"])
        click = b.eval("document.querySelector('.flame').harnessFlame.renderedAt - window.clickAt")
        painted = b.eval("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => "
                         "r(performance.now() - window.clickAt))))")
        rows.append({"first_frame_wall_ms": wall, "render_ms": render, "click_ms": click, "painted_ms": painted,
                     "frames_drawn": target["frames"]})
    return {k: round(statistics.median(r[k] for r in rows), 1) for k in rows[0]}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=200_000)
    ap.add_argument("--depth", type=int, default=32)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-flame-"))
    try:
        t0 = time.monotonic()
        run = make_run(tmp, args.samples, args.depth)
        t1 = time.monotonic()
        write_all(run)
        t2 = time.monotonic()
        report = run / "report.html"
        graphs = flame_view.run_graphs(load_run(run))
        frames = sum(1 for g in graphs for _ in walk(g["tree"]))
        exact = tmp / "exact.html"
        exact_frames = exact_page(run, exact)
        print(f"profiles: {args.samples:,} samples each, generated in {t1 - t0:.1f} s; report written in {t2 - t1:.1f} s")
        print(f"report.html {report.stat().st_size / 1024:.0f} KiB: {len(graphs)} graphs, {frames:,} frames "
              f"(bound {flame_view.per_tree_bound(len(graphs)):,} per graph)")
        with Browser(width=1200, height=900) as b:
            results = {"report": measure(b, report, args.repeat), f"exact tree ({exact_frames:,} frames)":
                       measure(b, exact, args.repeat)}
        print(f"{'page':32} {'first frame (wall)':>19} {'render in page':>15} {'click->drawn':>13} "
              f"{'click->painted':>15} {'frames drawn':>13}")
        for name, r in results.items():
            print(f"{name:32} {r['first_frame_wall_ms']:>16.0f} ms {r['render_ms']:>12.1f} ms {r['click_ms']:>10.1f} ms "
                  f"{r['painted_ms']:>12.1f} ms {r['frames_drawn']:>13.0f}")
        print(json.dumps(results))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
