"""The shape of the code, checked from its syntax trees (no import is executed):
layers import only downwards, no import cycles, no dispatch by name, short functions.

Every import counts, also one inside a function: a deferred import is still a dependency.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "lsp", "rundir")
MAX_FUNCTION_LINES = 60
# Functions allowed to be longer, each with its reason.
LONG_FUNCTIONS: dict[str, str] = {
}

# Modules allowed to import importlib, each with its reason.
DISCOVERY: dict[str, str] = {
    "harness.faults.kinds": "fault kinds are discovered: every module in harness/faults/kinds is one kind",
}

# (importing package prefix, imported prefix, why it is not allowed)
FORBIDDEN = [
    ("harness.faults", "harness.capture", "faults and captures meet only in the undo journal"),
    ("harness.capture", "harness.faults", "faults and captures meet only in the undo journal"),
    ("harness.undo", "harness.faults", "the undo journal sits below the owners of its steps"),
    ("harness.undo", "harness.capture", "the undo journal sits below the owners of its steps"),
    ("harness.undo", "harness.host", "the undo journal sits below the owners of its steps"),
    ("harness.undo", "harness.env", "the undo journal sits below the owners of its steps"),
    ("harness.faults", "harness.env", "faults and the environment do not call each other"),
    ("harness.env", "harness.faults", "faults and the environment do not call each other"),
    ("lsp", "harness", "the language server reads run directories, never the engine"),
    ("rundir", "harness", "the shared run-directory package sits below the engine and the language server"),
    ("rundir", "lsp", "the shared run-directory package sits below the engine and the language server"),
]


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()
TREES = {name: ast.parse(path.read_text(), str(path)) for name, path in MODULES.items()}


def _imports(name: str, tree: ast.AST) -> list[tuple[str, int]]:
    """(imported module, line) for every import in the module, resolved to our modules."""
    package = name if MODULES[name].name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            for a in node.names:
                full = f"{base}.{a.name}"
                found.append((full if full in MODULES else base, node.lineno))
    return [(m, line) for m, line in found if m.split(".")[0] in PACKAGES]


def _target(imported: str) -> str | None:
    while imported and imported not in MODULES:
        imported = imported.rpartition(".")[0]
    return imported or None


GRAPH: dict[str, set[str]] = defaultdict(set)
WHERE: dict[tuple[str, str], int] = {}
for _name, _tree in TREES.items():
    for _imp, _line in _imports(_name, _tree):
        _t = _target(_imp)
        if _t and _t != _name:
            GRAPH[_name].add(_t)
            WHERE.setdefault((_name, _t), _line)


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


# Judging (harness/judge: the verdict, `expect`, over typed records of summary.json) and rendering
# (harness/report) are apart: judging formats numbers with report.units and nothing else of the
# report; what renders reads what judging wrote. summary.py (which asks for the verdict while it
# builds summary.json) and writer.py (which evaluates `expect`) are where the two meet.
JUDGING_MAY_USE = {"harness.report", "harness.report.units"}
MEETS_JUDGING = {"harness.report.summary", "harness.report.writer"}


def test_judging_renders_nothing():
    bad = [f"{MODULES[m].relative_to(ROOT)}:{WHERE[(m, t)]} imports {t}" for m in sorted(GRAPH)
           if _under(m, "harness.judge") for t in sorted(GRAPH[m])
           if _under(t, "harness.report") and t not in JUDGING_MAY_USE]
    assert not bad, "judging reads the summary and writes findings and checks; it renders nothing:\n" + \
        "\n".join(bad)


def test_rendering_does_not_judge():
    bad = [f"{MODULES[m].relative_to(ROOT)}:{WHERE[(m, t)]} imports {t}" for m in sorted(GRAPH)
           if _under(m, "harness.report") and m not in MEETS_JUDGING for t in sorted(GRAPH[m])
           if _under(t, "harness.judge")]
    assert not bad, "the report renders what judging wrote into summary.json; it does not judge:\n" + \
        "\n".join(bad)


@pytest.mark.parametrize("importer,imported,why", FORBIDDEN, ids=[f"{a}->{b}" for a, b, _ in FORBIDDEN])
def test_layers_import_downwards(importer, imported, why):
    bad = [f"{MODULES[m].relative_to(ROOT)}:{WHERE[(m, t)]} imports {t}"
           for m in sorted(GRAPH) if _under(m, importer) for t in sorted(GRAPH[m]) if _under(t, imported)]
    assert not bad, f"{why}:\n" + "\n".join(bad)


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(GRAPH.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles():
    cycles = _cycles()
    lines = []
    for comp in cycles:
        edges = [f"  {a} -> {b} ({MODULES[a].relative_to(ROOT)}:{WHERE[(a, b)]})"
                 for a in comp for b in sorted(GRAPH[a]) if b in comp]
        lines.append("cycle among " + ", ".join(comp) + ":\n" + "\n".join(edges))
    assert not cycles, "\n".join(lines)


def test_no_dispatch_by_name():
    bad = []
    for name, tree in TREES.items():
        where = MODULES[name].relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if "importlib" in mods and name not in DISCOVERY:
                    bad.append(f"{where}:{node.lineno} imports importlib")
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "__import__":
                bad.append(f"{where}:{node.lineno} calls __import__")
            elif (isinstance(node, ast.Subscript) and isinstance(node.value, ast.Call)
                  and isinstance(node.value.func, ast.Name) and node.value.func.id == "globals"):
                bad.append(f"{where}:{node.lineno} looks up globals()[...]")
    assert not bad, "dispatch by name hides a dependency; import it and use a table:\n" + "\n".join(bad)


def test_functions_are_short():
    long = []
    for name, tree in TREES.items():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                key = f"{name}.{node.name}"
                if n > MAX_FUNCTION_LINES and key not in LONG_FUNCTIONS:
                    long.append(f"{MODULES[name].relative_to(ROOT)}:{node.lineno} {node.name}: {n} lines")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(long)


def test_the_exceptions_are_still_needed():
    present = {f"{name}.{node.name}": node.end_lineno - node.lineno + 1 for name, tree in TREES.items()
               for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    stale = [k for k in LONG_FUNCTIONS if present.get(k, 0) <= MAX_FUNCTION_LINES]
    assert not stale, f"listed as long but gone or short now: {stale}"


# -- fault kinds own their behaviour -----------------------------------------------------------
# Where a fault kind's name may still be branched on outside its own module, each with its reason.
KIND_NAMES_ALLOWED: dict[str, str] = {
    "harness/faults/steps.py": "DOCKER_CALLS names docker's container calls (pause, stop, kill, restart), "
                               "which share their names with kinds",
    "harness/judge/expect.py": "METRICS names the container metrics cpu and memory, which share their "
                                "names with kinds",
}
KIND_SCAN = ("harness/faults", "harness/report", "harness/judge", "harness/host")


def _kind_names() -> set[str]:
    """Every fault kind's name, read from the kind modules' syntax (`name = "..."`)."""
    names = set()
    for path in (ROOT / "harness" / "faults" / "kinds").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["name"] \
                    and isinstance(node.value, ast.Constant):
                names.add(node.value.value)
    return names


def _kind_branches(src: str, names: set[str]) -> list[str]:
    """Comparisons of a kind against a kind's name, and tables keyed or listed by kind names."""
    tree = ast.parse(src)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            consts = [c for s in sides for c in ([s] if isinstance(s, ast.Constant) else getattr(s, "elts", []))]
            if not any(isinstance(c, ast.Constant) and c.value in names for c in consts):
                continue
            if "kind" in " ".join(ast.get_source_segment(src, s) or "" for s in sides).lower():
                found.append(f"{node.lineno}: {ast.get_source_segment(src, node)}")
        elif isinstance(node, (ast.Dict, ast.Tuple, ast.List, ast.Set)):
            elts = node.keys if isinstance(node, ast.Dict) else node.elts
            listed = [e.value for e in elts if isinstance(e, ast.Constant) and e.value in names]
            if len(listed) >= 2:
                found.append(f"{node.lineno}: a table of kinds {listed}")
    return found


def _kind_dispatch() -> dict[str, list[str]]:
    names = _kind_names()
    out = {}
    for prefix in KIND_SCAN:
        for path in sorted((ROOT / prefix).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("harness/faults/kinds/") or rel == "harness/faults/registry.py":
                continue
            found = _kind_branches(path.read_text(), names)
            if found:
                out[rel] = found
    return out


def test_a_kind_name_is_branched_on_only_in_its_own_module():
    """A fault kind's behaviour (netem arguments, proxy behaviour, units, resource or not, what it
    needs) lives in harness/faults/kinds/<kind>.py; the mechanisms and the report ask the kind."""
    names = _kind_names()
    assert {"delay", "loss", "cpu", "memory", "reset"} <= names, names
    bad = {p: f for p, f in _kind_dispatch().items() if p not in KIND_NAMES_ALLOWED}
    assert not bad, "a kind's name branched on outside its module (ask the kind instead):\n" + \
        "\n".join(f"{p}:{line}" for p, found in bad.items() for line in found)
    # the check itself finds what it must: the if-chain and the list this rule replaced
    chain = 'def netem_args(kind, p):\n    if kind == "delay":\n        return []\nRESOURCE = ("cpu", "memory")\n'
    assert len(_kind_branches(chain, names)) == 2


def test_the_kind_name_exceptions_are_still_needed():
    stale = [p for p in KIND_NAMES_ALLOWED if p not in _kind_dispatch()]
    assert not stale, f"listed as branching on kind names but no longer do: {stale}"
