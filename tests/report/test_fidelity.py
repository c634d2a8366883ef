"""Fidelity: how close a phase is to production (harness/judge/fidelity.py), the path mapping of
production's profiles (harness/report/production.py), the production: section and its expectation."""
from __future__ import annotations

import pytest

from harness.errors import ScenarioError
from harness.judge import fidelity
from harness.judge.expect import evaluate, parse_expect
from harness.judge.production import parse_production
from harness.parse.context import ParseContext
from harness.parse.node import load_yaml
from harness.report.production import PathMap


def table(lines: dict[str, int]) -> dict:
    """A profile table (profiles.profile_table's shape) from {"file:line": value}; the function is
    the file's stem."""
    rows = []
    for key, v in lines.items():
        f, _, n = key.rpartition(":")
        rows.append({"file": f, "line": int(n), "function": "main." + f.split(".")[0], "value": v})
    funcs: dict[str, int] = {}
    for r in rows:
        funcs[r["function"]] = funcs.get(r["function"], 0) + r["value"]
    return {"total": sum(lines.values()) * 2, "sample_type": "delay", "unit": "nanoseconds", "lines": rows,
            "functions": [{"function": k, "value": v} for k, v in funcs.items()]}


def test_identical_distributions_score_one_and_disjoint_zero():
    prod = table({"pool.go:30": 90, "handler.go:12": 10})
    same_shape = table({"pool.go:30": 9_000, "handler.go:12": 1_000})       # 100 times longer: same shares
    assert fidelity.compare(prod, same_shape)["score"] == 1.0
    other = table({"squeeze.go:7": 5})
    r = fidelity.compare(prod, other)
    assert r["score"] == 0.0 and r["common"] == []
    assert [m["line"] for m in r["missing"]] == ["pool.go:30", "handler.go:12"]
    assert [m["line"] for m in r["extra"]] == ["squeeze.go:7"]


def test_score_is_one_minus_total_variation_distance():
    prod = table({"a.go:1": 50, "b.go:2": 50})
    repro = table({"a.go:1": 80, "b.go:2": 20})
    r = fidelity.compare(prod, repro)
    assert r["line_score"] == pytest.approx(1 - 0.5 * (0.3 + 0.3))
    assert r["function_score"] == pytest.approx(0.7) and r["score"] == pytest.approx(0.7)
    assert r["missing"] == []          # b.go:2 keeps 20%, more than a quarter of its 50%


def test_change_score_follows_the_direction_of_the_change():
    base = table({"a.go:1": 50, "b.go:2": 50})
    prod = table({"a.go:1": 90, "b.go:2": 10})
    right = fidelity.compare(prod, table({"a.go:1": 70, "b.go:2": 30}), base, base)
    wrong = fidelity.compare(prod, table({"a.go:1": 20, "b.go:2": 80}), base, base)
    assert right["change_score"] == pytest.approx(1.0) and wrong["change_score"] == 0.0


def test_a_phase_without_the_profile_or_own_code_is_not_scored():
    prod = table({"a.go:1": 1})
    assert fidelity.compare(prod, None)["score"] is None
    r = fidelity.compare(table({}), table({"a.go:1": 1}))
    assert r["score"] is None and "path_map" in r["why"]


def test_build_scores_every_phase_and_the_sentence_names_the_missing_line():
    production = {"service": "api", "phase": "slow", "baseline_phase": "base", "latency_ms": {"p50": 100.0},
                  "error_rate": 0.0}
    prod = {"incident": {"block": table({"pool.go:30": 99, "h.go:3": 1})}}
    repro = {"base": {"block": table({"h.go:3": 1})}, "slow": {"block": table({"pool.go:30": 95, "h.go:3": 5})},
             "squeeze": {}}
    loads = {"slow": {"p50_ms": 80.0, "error_rate": 0.0}, "base": {"p50_ms": 2.0}}
    out = fidelity.build(production, prod, repro, loads)
    ph = out["phases"]
    assert ph["slow"]["profiles"]["block"]["score"] == pytest.approx(0.96)
    assert ph["base"]["profiles"]["block"]["score"] == pytest.approx(0.01)
    assert ph["squeeze"]["profiles"]["block"]["score"] is None
    assert ph["slow"]["score"] == pytest.approx(0.96) and ph["base"]["score"] == pytest.approx(0.01)
    assert ph["slow"]["latency"]["score"] == 0.8 and ph["base"]["latency"]["score"] == 0.02
    assert "block 0.96" in fidelity.sentence(out) and "latency 0.80" in fidelity.sentence(out)
    out["phase"] = "base"
    assert "production's pool.go:30 (99%) is missing here" in fidelity.sentence(out)


def test_production_paths_map_onto_the_service():
    service = {"source_root": "/home/me/api", "module": "example.com/api"}
    m = PathMap(service, [["/build/src/app", "cmd"]], {"pool.go", "internal/store/db.go"})
    assert m("/build/src/app/main.go") == "cmd/main.go"                       # path_map
    assert m("example.com/api/pool.go") == "example.com/api/pool.go".split("/", 2)[2]   # -trimpath build
    assert m("/home/me/api/pool.go") == "pool.go"                             # a local build
    assert m("/ci/workspace/repo/internal/store/db.go") == "internal/store/db.go"   # by the known files
    assert m("/usr/local/go/src/runtime/chan.go") is None


# -- the production: section and matches_production ------------------------------------------------

def _ctx(tmp_path):
    return ParseContext(file="s.yaml", scenario_dir=tmp_path, services=("api",), phase_names=("base", "slow"),
                        allow_external_targets=False)


def test_production_section_errors_name_the_place(tmp_path):
    (tmp_path / "junk.pb.gz").write_bytes(b"not a profile at all")
    cases = [("production: {profiles: {cpu: missing.pb.gz}}", "profile file not found"),
             ("production: {profiles: {cpu: junk.pb.gz}}", "not a pprof profile"),
             ("production: {profiles: {cpuu: junk.pb.gz}}", "did you mean 'cpu'"),
             ("production: {phase: nope, rps: 3}", "unknown phase 'nope'"),
             ("production: {service: api}", "gives nothing to compare"),
             ("production: {baseline_profiles: {cpu: junk.pb.gz}}", "gives nothing to compare")]
    for text, fragment in cases:
        root = load_yaml(text, "s.yaml")
        with pytest.raises(ScenarioError) as e:
            parse_production(root.get("production"), _ctx(tmp_path))
        assert fragment in str(e.value) and "s.yaml:1:" in str(e.value), (text, str(e.value))
    spec = parse_production(load_yaml("production: {latency: {p99: 250ms}, error_rate: 2%, rps: 40, "
                                      "path_map: [{from: /build/, to: ./cmd}]}", "s.yaml").get("production"),
                            _ctx(tmp_path))
    assert spec.latency_ms == (("p99", 250.0),) and spec.error_rate == 0.02 and spec.path_map == (("/build", "cmd"),)


def test_matches_production_checks_the_phase_score(tmp_path):
    rules = parse_expect(load_yaml("expect:\n  - phase: slow\n    matches_production: [{profile: block, min: 0.9}, "
                                   "{profile: latency}, {profile: cpu}]\n", "s.yaml").get("expect"), _ctx(tmp_path))
    summary = {"phases": [{"name": "slow", "finished": True}],
               "fidelity": {"phases": {"slow": {"profiles": {"block": {"score": 0.8}}, "latency": {"score": 0.75}}}}}
    checks = evaluate(rules, summary)["checks"]
    assert [(c["name"], c["passed"]) for c in checks] == [("block matches production", False),
                                                          ("latency matches production", True),
                                                          ("cpu matches production", False)]
    assert "score 0.80 (minimum 0.90), short by 0.10" in checks[0]["message"]
    assert "no cpu comparison with production" in checks[2]["message"]


def test_the_same_shape_at_a_hundredth_of_the_size_is_not_the_incident():
    prod = {**table({"pool.go:30": 100}), "seconds": 10.0, "own_total": 100 * 10**9 * 10}     # 100 s/s of waiting
    quiet = {**table({"pool.go:30": 1}), "seconds": 10.0, "own_total": 10**9 * 10}          # 1 s/s
    close = {**table({"pool.go:30": 60}), "seconds": 5.0, "own_total": 60 * 10**9 * 5}       # 60 s/s: within x2
    assert fidelity.compare(prod, quiet)["shape_score"] == 1.0
    assert fidelity.compare(prod, quiet)["score"] == pytest.approx(0.02)
    assert fidelity.compare(prod, close)["score"] == 1.0
    # per request: production at 400 req/s and the phase at 40 req/s wait as long per request
    per = fidelity.compare(prod, {**quiet, "own_total": 10 * 10**9 * 10}, rps=(400.0, 40.0))
    assert per["size"]["per"] == "request" and per["score"] == 1.0


def test_a_shape_of_a_few_samples_is_not_scored():
    prod = {**table({"a.go:1": 50, "b.go:2": 50}), "own_count": 400}
    few = {**table({"a.go:1": 1, "b.go:2": 2}), "own_count": 3}
    r = fidelity.compare(prod, few)
    assert r["score"] is None and "too few samples" in r["why"] and "the phase 3" in r["why"]
    assert fidelity.compare({**prod, "own_count": 5}, {**few, "own_count": 300})["score"] is None
    # a phase with nothing at all where production has plenty: nothing in common
    assert fidelity.compare(prod, {**table({}), "own_count": 0})["score"] == 0.0


def test_a_line_a_hundred_times_quieter_is_missing_whatever_its_share():
    prod = {**table({"pool.go:30": 100}), "seconds": 10.0, "own_total": 100 * 10**10}
    quiet = {**table({"pool.go:30": 1}), "seconds": 10.0, "own_total": 10**10}
    r = fidelity.compare(prod, quiet)
    assert [m["line"] for m in r["missing"]] == ["pool.go:30"] and r["extra"] == []
    assert fidelity.compare(quiet, prod)["extra"][0]["line"] == "pool.go:30"
