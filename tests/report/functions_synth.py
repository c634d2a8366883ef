"""Synthetic function latency files (functions/<phase>/<service>.json, docs/captures.md) with real
HdrHistogram encodings (hdrh, ns, 1 ns .. 10 min, 3 digits) of known durations."""
from __future__ import annotations

import json
from pathlib import Path

from hdrh.histogram import HdrHistogram

LATENCY_KEYS = (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9))


def entry(function: str, durations_ms: list[float], seconds: float, file: str, line: int) -> dict:
    """One probed function as the capture writes it: counts, latency in ms (4 digits), histogram."""
    h = HdrHistogram(1, 600 * 10**9, 3)
    for ms in durations_ms:
        h.record_value(int(ms * 1e6))
    four = lambda ns: float(f"{ns / 1e6:.4g}")
    latency = None
    if durations_ms:
        latency = {"min": min(durations_ms), "mean": four(sum(durations_ms) * 1e6 / len(durations_ms)),
                   **{k: four(h.get_value_at_percentile(q)) for k, q in LATENCY_KEYS}, "max": max(durations_ms)}
    return {"function": function, "file": file, "line": line, "probes": {"entry": 1, "returns": 2},
            "calls": len(durations_ms), "calls_per_s": float(f"{len(durations_ms) / seconds:.4g}"),
            "unfinished": 0, "unmatched": 0, "reentries": 0, "latency_ms": latency,
            "histogram": h.encode().decode()}


def add_functions(run: Path, phase: str, functions: list[dict], service: str = "api",
                  text: str | None = None) -> Path:
    """Write functions/<phase>/<service>.json (or `text` as it is) and list it in the manifest."""
    manifest = json.loads((run / "manifest.json").read_text())
    start, end = next((p["start_s"], p["end_s"]) for p in manifest["phases"] if p["name"] == phase)
    path = run / "functions" / phase / f"{service}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"version": 1, "service": service, "phase": phase, "start_s": start, "end_s": end,
           "seconds": end - start, "functions": functions, "events": {"read": 10, "malformed": 0}, "raw": None}
    path.write_text(text if text is not None else json.dumps(doc))
    manifest["artifacts"].append({"kind": "functions", "path": path.relative_to(run).as_posix(), "service": service,
                                  "phase": phase, "start_s": start, "end_s": end,
                                  "functions": [f.get("function") for f in functions]})
    (run / "manifest.json").write_text(json.dumps(manifest))
    return path
