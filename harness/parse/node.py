"""YAML with positions: every value knows its file, line and column.

Each part of the scenario (envelope, load, faults, captures, expect) reads its own
section through `Node`, so every error names the place it comes from.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Iterable, Iterator

import yaml

from harness.errors import ScenarioError


@dataclass(frozen=True)
class Mark:
    file: str
    line: int  # 1-based
    col: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


MAX_SIZE = (1 << 63) - 1    # bytes: int64, what the kernel and Docker take

_TYPE_NAMES = {dict: "a mapping", list: "a list", str: "a string", int: "an integer",
               float: "a number", bool: "true/false", type(None): "nothing (null)"}


def type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return type_name(value)
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Node:
    """A YAML value with its position and its dotted path in the document."""

    def __init__(self, value: Any, mark: Mark, path: str, children=None, key_marks=None):
        self.value = value
        self.mark = mark
        self.path = path
        self._children = children  # dict[str, Node] | list[Node] | None
        self._key_marks = key_marks or {}

    # -- errors ---------------------------------------------------------------------------
    def error(self, what: str, *, seen: str | None = None, hint: str | None = None,
              own_path: bool = True) -> ScenarioError:
        """A ScenarioError at this node: "<path>: <what>" (own_path=False: `what` as it is,
        for a message that names the setting in its own words)."""
        return ScenarioError(f"{self.path}: {what}" if own_path and self.path else what,
                             where=str(self.mark), seen=seen, hint=hint)

    def expected(self, expectation: str, hint: str | None = None) -> ScenarioError:
        return self.error(f"expected {expectation}",
                          seen=f"{type_name(self.value)} {_show(self.value)}"
                          if not isinstance(self.value, (dict, list)) else type_name(self.value),
                          hint=hint)

    # -- mappings -------------------------------------------------------------------------
    def is_map(self) -> bool:
        return isinstance(self._children, dict)

    def as_map(self) -> dict[str, "Node"]:
        if not self.is_map():
            raise self.expected("a mapping")
        return self._children

    def keys(self, allowed: Iterable[str], required: Iterable[str] = ()) -> dict[str, "Node"]:
        """The mapping's children, after checking for unknown and missing keys."""
        children = self.as_map()
        allowed = list(allowed)
        for key in children:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else None
                valid = ", ".join(allowed)
                raise ScenarioError(f"{self._join(key)}: unknown key '{key}'",
                                    where=str(self._key_marks.get(key, self.mark)),
                                    seen=f"valid keys here: {valid}", hint=hint)
        for key in required:
            if key not in children:
                raise self.error(f"missing required key '{key}'",
                                 hint=f"add '{key}:' to {self.path or 'the top level'}")
        return children

    def get(self, key: str) -> "Node | None":
        return self.as_map().get(key)

    def key_mark(self, key: str) -> Mark:
        return self._key_marks.get(key, self.mark)

    def _join(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    # -- lists ----------------------------------------------------------------------------
    def as_list(self, *, allow_single: bool = False) -> list["Node"]:
        if isinstance(self._children, list):
            return self._children
        if allow_single and self.value is not None and not self.is_map():
            return [self]
        raise self.expected("a list")

    # -- scalars --------------------------------------------------------------------------
    def as_str(self, *, nonempty: bool = True) -> str:
        if not isinstance(self.value, str) or isinstance(self._children, (dict, list)):
            raise self.expected("a string")
        if nonempty and not self.value.strip():
            raise self.error("must not be empty")
        return self.value

    def as_path(self, base: Path) -> Path:
        """A path: '~' is the home folder, a relative path is resolved against `base`. A path
        the system cannot look up (a NUL byte, an unknown ~user, a name too long, a symlink
        loop, no permission) is an error here; one that does not exist is the caller's to say."""
        text = self.as_str()
        if "\0" in text:
            raise self.error("a path cannot hold a NUL character", seen=_show(text))
        try:
            p = Path(text).expanduser()
        except RuntimeError:
            raise self.error("cannot expand '~': no such user", seen=_show(text),
                             hint="write the folder out, or use ~/ for your own home folder") from None
        try:
            if not p.is_absolute():
                p = (base / p).resolve()
            p.stat()
        except (FileNotFoundError, NotADirectoryError):
            pass
        except (OSError, RuntimeError, ValueError) as e:
            raise self.error(f"cannot use this path: {getattr(e, 'strerror', None) or e}",
                             seen=_show(text)) from None
        return p

    def as_bool(self) -> bool:
        if not isinstance(self.value, bool):
            raise self.expected("true or false")
        return self.value

    def as_int(self, *, min: int | None = None, max: int | None = None) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise self.expected("an integer")
        self._range(self.value, min, max)
        return self.value

    def as_float(self, *, min: float | None = None, max: float | None = None,
                 min_exclusive: bool = False) -> float:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise self.expected("a number")
        v = _to_float(self.value)               # an integer beyond 1.8e308 is +-inf here
        if min_exclusive and min is not None and v <= min:
            raise self.error(f"must be greater than {min:g}", seen=_show(self.value))
        self._range(v, None if min_exclusive else min, max)
        if not math.isfinite(v):
            raise self.expected("a finite number") if isinstance(self.value, float) else \
                self.error("the number is too large", seen=_show(self.value))
        return v

    def as_enum(self, choices: Iterable[str]) -> str:
        choices = list(choices)
        if not isinstance(self.value, str) or self.value not in choices:
            close = difflib.get_close_matches(str(self.value), choices, n=1, cutoff=0.6)
            raise self.error(f"expected one of {', '.join(choices)}",
                             seen=_show(self.value),
                             hint=f"did you mean '{close[0]}'?" if close else None)
        return self.value

    def as_duration(self, *, min: float | None = 0.0, max: float | None = None,
                    allow_zero: bool = True) -> float:
        """Seconds. Accepts a number (seconds) or '500ms', '30s', '2m', '1h', '1m30s'."""
        v = parse_duration(self.value)
        if v is None:
            raise self.error("expected a duration like 500ms, 30s, 2m or 1m30s",
                             seen=_show(self.value))
        if not allow_zero and v == 0:
            raise self.error("duration must be greater than 0", seen=_show(self.value))
        self._range(v, min, max, unit="s")
        if not math.isfinite(v):
            raise self.error("the duration is too long", seen=_show(self.value))
        return v

    def as_size(self, *, min: int | None = 0, max: int | None = MAX_SIZE) -> int:
        """Bytes. Accepts an integer (bytes) or '512k', '256m', '256MiB', '1g' (binary units);
        at most int64 unless `max` says otherwise (the kernel and Docker take no more)."""
        v = parse_size(self.value)
        if v is None:
            raise self.error("expected a size like 64m, 256MiB or 1g",
                             seen=_show(self.value))
        self._range(v, min, max, unit=" bytes")
        return v

    def _range(self, v, lo, hi, unit: str = "") -> None:
        if lo is not None and v < lo:
            raise self.error(f"must be at least {lo:g}{unit}", seen=_show(self.value))
        if hi is not None and v > hi:
            raise self.error(f"must be at most {hi:g}{unit}", seen=_show(self.value))

    def plain(self) -> Any:
        """The value as plain Python data (for manifests)."""
        return self.value

    def __iter__(self) -> Iterator["Node"]:
        return iter(self.as_list())

    def __repr__(self) -> str:
        return f"Node({self.path!r} at {self.mark})"


_DUR_RE = re.compile(r"(\d+(?:\.\d+)?)(ms|us|s|m|h)")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)
_SIZE_MULT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
_DUR_MULT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _to_float(value: float) -> float:
    try:
        return float(value)
    except OverflowError:                   # an int beyond the float range
        return math.inf if value > 0 else -math.inf


def parse_duration(value: Any) -> float | None:
    """Seconds (inf for a number too large to hold), or None for text that is no duration."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return _to_float(value) if value >= 0 else None     # NaN >= 0 is False
    if not isinstance(value, str):
        return None
    text = value.strip().replace(" ", "")
    if not text:
        return None
    pos, total = 0, 0.0
    for m in _DUR_RE.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _DUR_MULT[m.group(2)]
        pos = m.end()
    return total if pos == len(text) else None


def parse_size(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if not isinstance(value, str):
        return None
    m = _SIZE_RE.match(value)
    if not m:
        return None
    number, unit, suffix = m.groups()
    if suffix.lower() == "i":  # '256mi' without b is accepted as MiB; a bare 'i' is not a unit
        if not unit:
            return None
    if len(number.partition(".")[0].lstrip("0")) > 30:
        return 1 << 128            # beyond any size (the range check says so); int() reads 4300 digits at most
    return int(Fraction(number) * _SIZE_MULT[unit.lower()])   # exact: '9' * 25 + 't' is no float


# -- building nodes from YAML -----------------------------------------------------------------

def load_yaml(text: str, file: str) -> Node:
    """Parse YAML text into a Node tree, or raise ScenarioError with the position."""
    root = _compose_tree(text, file)
    if root is None:
        raise ScenarioError("the scenario file is empty", where=f"{file}:1:1",
                            hint="start with 'name:' and 'compose:'; `harness schema` prints the format")
    constructor = yaml.SafeLoader("")
    try:
        return _build(root, file, "", constructor, _Budget(file))
    finally:
        constructor.dispose()


def _compose_tree(text: str, file: str) -> yaml.Node | None:
    """The YAML node tree of `text` (no values constructed yet)."""
    try:
        loader = yaml.SafeLoader(text)        # checks every character first
    except yaml.reader.ReaderError as e:
        raise _reader_error(e, text, file) from None
    try:
        return loader.get_single_node()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        raise ScenarioError(f"not valid YAML: {e.problem or e.context}", where=where,
                            seen=(e.context or None) if e.problem else None,
                            hint="check indentation and quoting around this place") from None
    except yaml.YAMLError as e:
        raise ScenarioError(f"not valid YAML: {e}", where=file) from None
    except RecursionError:
        mark = loader.get_mark()              # where the reader stopped: inside the deep part
        raise ScenarioError(f"the scenario is nested more than {MAX_DEPTH} levels deep",
                            where=f"{file}:{mark.line + 1}:{mark.column + 1}",
                            hint="a scenario needs a few levels; check the brackets") from None
    finally:
        loader.dispose()


def _reader_error(e: yaml.reader.ReaderError, text: str, file: str) -> ScenarioError:
    """A character YAML does not allow (a control character), placed by line:col."""
    pos = e.position
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    char = f"U+{e.character:04X}" if isinstance(e.character, int) else repr(e.character)
    return ScenarioError("the scenario holds a character YAML does not allow", where=f"{file}:{line}:{col}",
                         seen=f"{char} ({e.reason})",
                         hint="remove it; to put a control character in a value, write it as an escape "
                              "in double quotes, e.g. \"\\x07\"")


MAX_VALUES = 100_000     # a scenario has hundreds; a YAML alias bomb has billions
MAX_DEPTH = 64


class _Budget:
    """Bounds what a scenario may expand to: YAML aliases repeat a subtree without repeating
    its text, and nesting costs a level of recursion."""

    def __init__(self, file: str):
        self.file, self.values = file, 0

    def take(self, node: yaml.Node, path: str) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            raise ScenarioError(f"the scenario expands to more than {MAX_VALUES:,} values",
                                where=str(_mark(node, self.file)), seen="YAML aliases (*name) that repeat "
                                "a large part of the file", hint="write the values out, or use fewer aliases")
        if path.count(".") + path.count("[") > MAX_DEPTH:
            raise ScenarioError(f"the scenario is nested more than {MAX_DEPTH} levels deep",
                                where=str(_mark(node, self.file)), seen=path[:120] + "...")


def _mark(node: yaml.Node, file: str) -> Mark:
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _build(node: yaml.Node, file: str, path: str, constructor, budget: _Budget) -> Node:
    budget.take(node, path)
    mark = _mark(node, file)
    if isinstance(node, yaml.MappingNode):
        children: dict[str, Node] = {}
        key_marks: dict[str, Mark] = {}
        plain: dict[str, Any] = {}
        for knode, vnode in node.value:
            if knode.tag == "tag:yaml.org,2002:merge":
                raise ScenarioError("YAML merge keys (<<) are not supported in scenarios",
                                    where=str(_mark(knode, file)))
            if not isinstance(knode, yaml.ScalarNode):   # its text could be an alias bomb's billions
                raise ScenarioError("a key must be a name, not a list or a mapping",
                                    where=str(_mark(knode, file)),
                                    seen="a list" if isinstance(knode, yaml.SequenceNode) else "a mapping",
                                    hint="write 'name: value'; a line starting with '? ' makes a complex key")
            key = _construct(knode, file, constructor)
            kmark = _mark(knode, file)
            if not isinstance(key, str):
                key = str(key)
            if key in children:
                raise ScenarioError(f"duplicate key '{key}'", where=str(kmark),
                                    seen=f"first defined at line {key_marks[key].line}",
                                    hint="remove one of the two")
            child = _build(vnode, file, f"{path}.{key}" if path else key, constructor, budget)
            children[key] = child
            key_marks[key] = kmark
            plain[key] = child.value
        return Node(plain, mark, path, children, key_marks)
    if isinstance(node, yaml.SequenceNode):
        items = [_build(v, file, f"{path}[{i}]", constructor, budget) for i, v in enumerate(node.value)]
        return Node([i.value for i in items], mark, path, items)
    return Node(_construct(node, file, constructor), mark, path)


def _construct(node: yaml.Node, file: str, constructor) -> Any:
    """The Python value of a scalar (or of a mapping key), or a ScenarioError at its place: a
    tag the safe loader refuses, or text its tag cannot hold (`!!int abc`, a 13th month, an
    integer of more than 4300 digits)."""
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError as e:
        raise ScenarioError(f"cannot read value: {e.problem}", where=str(_mark(node, file)),
                            seen=f"tag {node.tag}" if node.tag.startswith("!") else None,
                            hint="scenarios take plain YAML values: strings, numbers, true/false, "
                                 "lists and mappings") from None
    except (ValueError, KeyError, OverflowError, TypeError) as e:
        kind = _TAG_NAMES.get(node.tag, node.tag)
        raw = node.value if isinstance(node.value, str) else type(node.value).__name__
        reason = "" if isinstance(e, KeyError) else str(e).split(";")[0]
        raise ScenarioError(f"cannot read the value as {kind}" + (f": {reason}" if reason else ""),
                            where=str(_mark(node, file)), seen=_show(raw),
                            hint=f"write {kind}, or quote the value to keep it as text") from None


_TAG_NAMES = {f"tag:yaml.org,2002:{t}": name for t, name in (
    ("int", "an integer"), ("float", "a number"), ("bool", "true/false"), ("timestamp", "a date"),
    ("binary", "base64 data"), ("null", "null"), ("str", "a string"))}
