"""Scenario fuzz: mutated copies of the bundled scenarios through the real `harness validate`.

Every mutated file must end in exit 0 (valid) or exit 2 (a scenario error) within 30 s, with no
traceback, and an error must say where: the scenario's path with ':<line>' (or a compose file's).
The mutations are drawn with a fixed seed, so a failure reproduces; the message names the
mutations and the file (kept under pytest's tmp folder).

The files go to `harness validate` in batches (the command takes several files and prints one
result per file, in order); an internal error stops a batch, so the batch goes on after the
file that crashed. The result lines are read as they come, which times each file on its own.
No marker: this test is part of the normal run (about 15 s on 2 cores).
"""
from __future__ import annotations

import copy
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
BUNDLED = sorted((ROOT / "scenarios").glob("*.yaml"))
SEED = 1212
PER_SCENARIO = 130            # x 5 bundled scenarios = 650 files
BATCH = 25
# seconds one file may take: a hang detector, not a timing figure (a file takes well under 1 s;
# with two loaded cores a deep-nesting file once took over 5 s, the bound this had before)
LIVENESS = 30.0
HARNESS = [sys.executable, "-m", "harness.cli", "validate"]

# -- weird values ----------------------------------------------------------------------------

TYPE_SWAPS = ["text", 7, 0, [1, "a"], {"k": "v"}, None, True, False, 1.5, [], {}]
NUMBERS = [10**30, -1, -10**20, 2**63, 2**64 + 1, 10**400, int("9" * 4000), 0, -0.5, 1e308, -1e308,
           float("nan"), float("inf"), float("-inf")]
DURATIONS = ["1e400s", "-5s", "1m1m", "9" * 400 + "s", "0s", "1.5.5s", "10 s", "inf s", "nan",
             "1e3ms", "0.0000001us", "99999999h", "s", "5", "-0"]
SIZES = ["99999999t", "9" * 400 + "t", "-1m", "1.5g", "1i", "0.1k", "1e400", "99999999999999999999",
         "256MiB", "64 m", "0", "1tib", "inf"]
STRINGS = ["x" * 300, "y" * 5000, "z" * 60000, "é✓日本\u202e\u2028\x85", "a\x00b", "\x07\x1b[31mred",
           "[/]", "[bold]x[/bold] [/red]", "~nosuchuser_xyz/a", "/" + "d/" * 3000, "..", "/dev/zero",
           "/proc/self/mem", "../../../../../../etc/passwd", "http://[::1", "http://x:99999/",
           "http://", " ", "", "\t", "%s%n{0}", "\ud7ff\U0001f600", "-", "?", "*", "9" * 5000, "0-" + "9" * 5000,
           "a" * 300 + "/b", "x\ny: 1"]
POOLS = {"type": TYPE_SWAPS, "number": NUMBERS, "duration": DURATIONS, "size": SIZES, "string": STRINGS}

# Raw YAML put in place of a value on a `key: value` line (what a dump of data cannot write).
RAW_TOKENS = ["!!int abc", "!!float x", "!!binary @@@", "!!timestamp 2001-13-45", "2001-13-45",
              "2001-02-30 25:61:61", "!!python/object:os.system x", "!custom x", "!!set {a, b}",
              "!!omap [a]", "!!str", "*nosuchanchor", "&a", "{", "[1, [2, [3]]]", "1e400", ".nan",
              "-.inf", "0x" + "f" * 80, "0b102", "0o9", "1_000_000", "190:20:30", "~", "'unterminated",
              '"\\x00\\ud800"', "|\n  block", ">-", "? complex\n: key", "9" * 5000, "- a\n- b",
              "!!null x", "!!bool maybe", "!!map [1]", "!!seq {a: 1}", "<<: {}", "[*a]"]

# Keys the bundled scenarios do not use, to reach their readers too: (section path, key).
KNOWN_KEYS = [((), "duration"), ((), "warmup"), ((), "baseline"), ((), "runs_dir"), ((), "compose"),
              ((), "allow_external_targets"), ((), "description"), (("load",), "url"),
              (("load",), "seed"), (("load",), "processes"), (("load",), "precision"),
              (("load",), "locustfile"), (("load",), "timeout"), (("load",), "users"),
              (("load",), "overflow"), (("captures",), "perf"), (("captures",), "trace"),
              (("captures",), "stats_interval"), (("captures",), "cpu_margin"),
              (("captures",), "fetch_timeout"), (("captures",), "rates"), (("services", "api"), "source"),
              (("services", "api"), "cap_add"), (("services", "api", "limits"), "memory_swap"),
              (("services", "api", "limits"), "cpuset"), (("services", "api", "limits"), "pids"),
              (("services", "api", "limits"), "memory"), (("services", "api", "ready"), "interval"),
              (("services", "api"), "pprof")]

FAULTS = ["delay", "loss", "corrupt", "duplicate", "reorder", "rate", "partition", "reset", "timeout",
          "slow_close", "pause", "stop", "restart", "kill", "cpu", "cpuset", "memory",
          "cpu_pressure", "memory_pressure"]
FAULT_PARAMS = ["latency", "jitter", "percent", "every_nth", "correlation", "rate", "burst", "queue",
                "gap", "after", "delay", "timeout", "grace", "signal", "restore", "cpus", "limit",
                "swap", "workers", "size", "distribution", "peer", "direction", "backend", "id"]


def weird(rng: random.Random):
    pool = POOLS[rng.choice(sorted(POOLS))]
    return copy.deepcopy(rng.choice(pool))


# -- mutations on the data (then dumped) --------------------------------------------------------

def _slots(data, out=None, path=()):
    """(container, key, path) for every value in the tree."""
    out = [] if out is None else out
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for k, v in items:
        out.append((data, k, path + (k,)))
        _slots(v, out, path + (k,))
    return out


def m_delete_key(rng, data):
    slots = [s for s in _slots(data) if isinstance(s[0], dict)]
    container, key, _ = rng.choice(slots)
    del container[key]


def m_weird_value(rng, data):
    container, key, _ = rng.choice(_slots(data))
    container[key] = weird(rng)


def m_weird_leaf(rng, data):
    """A scalar replaced, mostly by a weird value of its own kind: what gets past the type
    checks to the readers of numbers, durations, sizes and paths."""
    leaves = [s for s in _slots(data) if not isinstance(s[0][s[1]], (dict, list))]
    container, key, _ = rng.choice(leaves)
    old = container[key]
    if rng.random() < 0.3:
        container[key] = weird(rng)
    elif isinstance(old, (int, float)) and not isinstance(old, bool):
        container[key] = rng.choice(NUMBERS + DURATIONS + SIZES)
    elif isinstance(old, str) and re.fullmatch(r"[\d.]+(ms|s|m|h)", old):
        container[key] = rng.choice(DURATIONS + NUMBERS)
    elif isinstance(old, str) and re.fullmatch(r"[\d.]+[kmgt]\w*", old):
        container[key] = rng.choice(SIZES + NUMBERS)
    else:
        container[key] = rng.choice(STRINGS)


def m_add_known_key(rng, data):
    section, key = rng.choice(KNOWN_KEYS)
    here = data
    for part in section:
        if not isinstance(here, dict):
            return
        here = here.setdefault(part, {})
    if isinstance(here, dict):
        here[key] = weird(rng) if rng.random() < 0.7 else rng.choice(["a", "ok", "/tmp", 1, "1s", True])


def m_fault_kind(rng, data):
    phases = [p for p in data.get("phases") or [] if isinstance(p, dict)] if isinstance(data, dict) else []
    if not phases:
        return
    params = {p: weird(rng) for p in rng.sample(FAULT_PARAMS, rng.randint(0, 4))}
    rng.choice(phases).setdefault("faults", []).append({"kind": rng.choice(FAULTS), "target": "api", **params})


DATA_MUTATIONS = [m_delete_key, m_weird_value, m_weird_leaf, m_weird_leaf, m_weird_leaf, m_add_known_key,
                  m_add_known_key, m_fault_kind]

# -- mutations on the text -----------------------------------------------------------------------

_KEY_LINE = re.compile(r"^(\s*(?:- )?)([\w.-]+):( *)(.*)$")


def t_duplicate_key(rng, text):
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if _KEY_LINE.match(line)]
    if hits:
        i = rng.choice(hits)
        lines.insert(i + 1, lines[i].replace("- ", "  ", 1) if rng.random() < 0.7 else lines[i])
    return "\n".join(lines) + "\n"


def t_raw_value(rng, text):
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if (m := _KEY_LINE.match(line)) and m.group(4)]
    if hits:
        i = rng.choice(hits)
        m = _KEY_LINE.match(lines[i])
        lines[i] = f"{m.group(1)}{m.group(2)}: {rng.choice(RAW_TOKENS)}"
    return "\n".join(lines) + "\n"


def t_deep_nesting(rng, text):
    depth = rng.choice([10, 63, 65, 70, 300, 3000, 20000])
    value = rng.choice(["[" * depth + "]" * depth, "{a: " * depth + "1" + "}" * depth])
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if _KEY_LINE.match(line)]
    i = rng.choice(hits)
    m = _KEY_LINE.match(lines[i])
    lines[i] = f"{m.group(1)}{m.group(2)}: {value}"
    return "\n".join(lines) + "\n"


def t_anchors(rng, text):
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if (m := _KEY_LINE.match(line)) and m.group(4)]
    i, j = rng.choice(hits), rng.choice(hits)
    mi, mj = _KEY_LINE.match(lines[i]), _KEY_LINE.match(lines[j])
    lines[i] = f"{mi.group(1)}{mi.group(2)}: &x {mi.group(4)}"
    lines[j] = f"{mj.group(1)}{mj.group(2)}: *x" if i != j else lines[j]
    if rng.random() < 0.3:   # a small alias bomb
        bomb = ["b0: &b0 [a, a, a, a, a, a, a, a, a]"]
        bomb += [f"b{k}: &b{k} [" + ", ".join([f"*b{k - 1}"] * 9) + "]" for k in range(1, 9)]
        lines[1:1] = bomb
    return "\n".join(lines) + "\n"


def t_truncate(rng, text):
    data = text.encode()
    return data[: rng.randrange(len(data))]


def t_swap_lines(rng, text):
    lines = text.splitlines()
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines) + "\n"


def t_indent(rng, text):
    lines = text.splitlines()
    i = rng.randrange(len(lines))
    change = rng.choice([" ", "  ", "   ", "\t", "-1", "-2", "strip"])
    if change.startswith("-"):
        lines[i] = lines[i][int(change[1:]):] if lines[i][: int(change[1:])].isspace() else lines[i]
    elif change == "strip":
        lines[i] = lines[i].lstrip()
    else:
        lines[i] = change + lines[i]
    return "\n".join(lines) + "\n"


def t_flip_bytes(rng, text):
    data = bytearray(text.encode())
    for _ in range(rng.randint(1, 5)):
        data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    return bytes(data)


def t_control_chars(rng, text):
    pos = rng.randrange(len(text))
    return text[:pos] + rng.choice(["\x00", "\x01", "\x7f", "\x1b", "\ufeff", "\u2028", "\r", "\t"]) + text[pos:]


TEXT_MUTATIONS = [t_duplicate_key, t_raw_value, t_deep_nesting, t_anchors, t_truncate, t_swap_lines,
                  t_indent, t_flip_bytes, t_control_chars]

# -- cases ----------------------------------------------------------------------------------------


def mutate(rng: random.Random, text: str) -> tuple[bytes, list[str]]:
    names: list[str] = []
    data = yaml.safe_load(text)
    for _ in range(rng.choice([0, 1, 1, 1, 2])):
        m = rng.choice(DATA_MUTATIONS)
        m(rng, data)
        names.append(m.__name__)
    if names:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=rng.random() < 0.5, width=100)
    out: str | bytes = text
    for _ in range(rng.choice([0, 0, 1]) if names else rng.choice([1, 1, 2])):
        if isinstance(out, bytes):
            break            # truncated or flipped: no more line edits
        m = rng.choice(TEXT_MUTATIONS)
        out = m(rng, out)
        names.append(m.__name__)
    return (out if isinstance(out, bytes) else out.encode("utf-8", "surrogatepass")), names


@dataclass
class Case:
    path: Path
    mutations: list[str]


def write_cases(tmp: Path) -> list[Case]:
    """The mutated files in tmp/scenarios, beside a copy of compose/ (the relative paths hold)."""
    shutil.copytree(ROOT / "compose", tmp / "compose")
    (tmp / "scenarios").mkdir()
    rng = random.Random(SEED)
    cases = []
    for src in BUNDLED:
        text = src.read_text()
        for i in range(PER_SCENARIO):
            data, names = mutate(rng, text)
            path = tmp / "scenarios" / f"{src.stem}-{i:03d}.yaml"
            path.write_bytes(data)
            cases.append(Case(path, names))
    return cases


# -- running `harness validate` -------------------------------------------------------------------

_RESULT = re.compile(r"^(✓|✗) ", re.MULTILINE)


@dataclass
class Batch:
    """One `harness validate` process over some files: its result lines as they arrive."""
    cases: list[Case]
    lines: list[tuple[float, str]] = field(default_factory=list)
    stderr: str = ""

    def results(self) -> list[str]:
        text = "".join(line for _, line in self.lines)
        starts = [m.start() for m in _RESULT.finditer(text)]
        return [text[a:b] for a, b in zip(starts, starts[1:] + [len(text)])]

    def done(self) -> list[float]:
        return [t for t, line in self.lines if _RESULT.match(line)]


def run_batch(cases: list[Case]) -> list[str]:
    """Problems found; after a crash or a hang, the rest of the batch runs in a new process."""
    problems: list[str] = []
    while cases:
        batch, rc, hung = _run(cases)
        results = batch.results()
        problems += _check_results(batch, results[: len(cases)])
        n = len(results)
        if hung or rc not in (0, 2) or n < len(cases):
            why = f"no result within {LIVENESS:g} s" if hung else f"exit {rc}, no result"
            problems.append(_describe(cases[min(n, len(cases) - 1)], why if n < len(cases) else
                                      f"all results printed, then {why}", batch.stderr))
            if "Traceback" in batch.stderr:
                problems.append(f"Traceback on stderr:\n{batch.stderr[-2000:]}")
            cases = cases[n + 1:]
            continue
        if rc != (2 if any(r.startswith("✗") for r in results) else 0):
            problems.append(f"exit {rc} does not match the results of {cases[0].path.name}...")
        if "Traceback" in batch.stderr:
            problems.append(f"Traceback on stderr:\n{batch.stderr[-2000:]}")
        cases = []
    return problems


def _run(cases: list[Case]) -> tuple[Batch, int | None, bool]:
    batch = Batch(cases)
    proc = subprocess.Popen(HARNESS + [str(c.path) for c in cases], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace")

    def read_out():
        for line in proc.stdout:
            batch.lines.append((time.monotonic(), line))

    def read_err():
        batch.stderr = proc.stderr.read()

    readers = [threading.Thread(target=f, daemon=True) for f in (read_out, read_err)]
    for r in readers:
        r.start()
    started, hung = time.monotonic(), False
    while proc.poll() is None:
        done = batch.done()
        if time.monotonic() - (done[-1] if done else started) > LIVENESS:
            proc.kill()
            hung = True
            break
        time.sleep(0.02)
    proc.wait()
    for r in readers:
        r.join(5)
    return batch, proc.returncode, hung


def _check_results(batch: Batch, results: list[str]) -> list[str]:
    problems = []
    for case, text in zip(batch.cases, results):
        if "Traceback" in text:
            problems.append(_describe(case, "traceback in the output", text))
        elif text.startswith("✗") and not _placed(case, text):
            problems.append(_describe(case, "error without file:line", text))
        elif text.startswith("✗") and not text[2:].partition(": ")[2].strip():
            problems.append(_describe(case, "empty error message", text))
    return problems


def _placed(case: Case, text: str) -> bool:
    compose_dir = case.path.parent.parent / "compose"
    return bool(re.search(re.escape(str(case.path)) + r":\d+", text)
                or re.search(re.escape(str(compose_dir)) + r"\S*:\d+", text))


def _describe(case: Case, why: str, output: str) -> str:
    return f"{case.path.name} ({', '.join(case.mutations)}): {why}\n    {output.strip()[:600]}"


def test_mutated_scenarios_end_in_a_clear_result(tmp_path):
    cases = write_cases(tmp_path)
    assert len(cases) >= 500
    batches = [cases[i:i + BATCH] for i in range(0, len(cases), BATCH)]
    with ThreadPoolExecutor(2) as pool:
        problems = [p for found in pool.map(run_batch, batches) for p in found]
    assert not problems, f"{len(problems)} of {len(cases)} mutated scenarios:\n" + "\n".join(problems)
