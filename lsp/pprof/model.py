"""Loading a pprof file into a compact, aggregation-friendly form.

The protobuf library decodes the message; this module validates it and turns
it into flat tables: interned source lines and functions, per-location frame
lists (innermost first, as pprof stores inlined frames) and samples grouped by
identical location stack. Aggregation (see aggregate.py) then works once per
distinct stack instead of once per sample.
"""
from __future__ import annotations

import gc
import gzip
import os
import zlib
from dataclasses import dataclass, field
from operator import attrgetter

from google.protobuf.message import DecodeError

from lsp.pprof.proto import Profile as ProfileMessage

_GZIP_MAGIC = b"\x1f\x8b"


class ProfileError(ValueError):
    """A file that is not a readable pprof profile; the message is one line."""


@dataclass
class Profile:
    """A decoded profile.

    Frames are interned: ``lines[i]`` is ``(filename, line)`` and ``line_func[i]``
    the function first seen on that line; ``funcs[j]`` is ``(name, filename,
    start_line)``. ``loc_lines[loc]`` / ``loc_funcs[loc]`` list a location's
    frames innermost first (the last entry is the caller that inlined the rest).
    ``stacks`` maps a stack of location indices (leaf first) to the summed
    value vector of every sample with that stack.
    """

    sample_types: list[tuple[str, str]]
    default_index: int
    duration_ns: int
    period: int
    period_type: tuple[str, str]
    time_nanos: int
    sample_count: int
    lines: list[tuple[str, int]]
    line_func: list[str]
    funcs: list[tuple[str, str, int]]
    loc_lines: list[tuple[int, ...]]
    loc_funcs: list[tuple[int, ...]]
    stacks: dict[tuple[int, ...], list[int]]
    source: str = ""
    _cache: dict = field(default_factory=dict, repr=False, compare=False)

    def total(self, index: int) -> int:
        """Sum of the sample values of type ``index`` (what pprof calls the total)."""
        self._check_index(index)
        key = ("total", index)
        if key not in self._cache:
            self._cache[key] = sum(v[index] for v in self.stacks.values())
        return self._cache[key]

    def index_of(self, sample_type: str | None) -> int:
        """Index of a sample type by name (``cpu``, ``alloc_space``...); None = default."""
        if sample_type is None or sample_type == "":
            return self.default_index
        for i, (name, _unit) in enumerate(self.sample_types):
            if name == sample_type:
                return i
        valid = ", ".join(t for t, _ in self.sample_types)
        raise ProfileError(f"sample type {sample_type!r} not in profile (valid: {valid})")

    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self.sample_types):
            raise ProfileError(f"sample index {index} out of range 0..{len(self.sample_types) - 1}")


def load_profile(source: str | os.PathLike | bytes) -> Profile:
    """Read a pprof profile from a path or bytes, gzip-compressed or not."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "<bytes>"
    else:
        name = os.fspath(source)
        try:
            with open(name, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise ProfileError(f"{name}: cannot read: {exc.strerror or exc}") from None
    raw = _decompress(data, name)
    msg = ProfileMessage()
    try:
        msg.ParseFromString(raw)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ProfileError(f"{name}: not a pprof profile (protobuf decode failed: {exc})") from None
    prof = _without_gc(_build, msg, name)
    prof.source = name
    return prof


def _without_gc(fn, *args):
    """Run fn with the cyclic garbage collector paused: building millions of tuples (none of them in
    cycles) otherwise triggers collection after collection over everything built so far."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return fn(*args)
    finally:
        if enabled:
            gc.enable()


def _decompress(data: bytes, name: str) -> bytes:
    if not data:
        raise ProfileError(f"{name}: empty file, not a pprof profile")
    if not data.startswith(_GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise ProfileError(f"{name}: truncated or corrupt gzip data ({exc})") from None


def _build(msg, name: str) -> Profile:
    strings = list(msg.string_table)
    if not strings or strings[0] != "":
        raise ProfileError(f"{name}: not a pprof profile (string table missing or malformed)")
    if not msg.sample_type:
        raise ProfileError(f"{name}: not a pprof profile (no sample types)")

    def s(i: int) -> str:
        if not 0 <= i < len(strings):
            raise ProfileError(f"{name}: corrupt profile (string index {i} out of range)")
        return strings[i]

    sample_types = [(s(vt.type), s(vt.unit)) for vt in msg.sample_type]
    default_index = len(sample_types) - 1
    if msg.default_sample_type:
        wanted = s(msg.default_sample_type)
        for i, (t, _u) in enumerate(sample_types):
            if t == wanted:
                default_index = i
    funcs, func_index = _functions(msg, s)
    lines, line_func, loc_lines, loc_funcs, loc_index = _locations(msg, funcs, func_index, name)
    stacks, count = _stacks(msg, loc_index, len(sample_types), name)
    return Profile(
        sample_types=sample_types,
        default_index=default_index,
        duration_ns=msg.duration_nanos,
        period=msg.period,
        period_type=(s(msg.period_type.type), s(msg.period_type.unit)),
        time_nanos=msg.time_nanos,
        sample_count=count,
        lines=lines,
        line_func=line_func,
        funcs=funcs,
        loc_lines=loc_lines,
        loc_funcs=loc_funcs,
        stacks=stacks,
    )


def _functions(msg, s) -> tuple[list[tuple[str, str, int]], dict[int, int]]:
    funcs: list[tuple[str, str, int]] = []
    index: dict[int, int] = {}
    by_value: dict[tuple[str, str, int], int] = {}
    for fn in msg.function:
        key = (s(fn.name), s(fn.filename), fn.start_line)
        j = by_value.get(key)
        if j is None:
            j = by_value[key] = len(funcs)
            funcs.append(key)
        index[fn.id] = j
    return funcs, index


def _locations(msg, funcs, func_index, name):
    lines: list[tuple[str, int]] = []
    line_func: list[str] = []
    line_ids: dict[tuple[str, int], int] = {}
    loc_lines: list[tuple[int, ...]] = []
    loc_funcs: list[tuple[int, ...]] = []
    loc_index: dict[int, int] = {}
    for loc in msg.location:
        lk: list[int] = []
        fk: list[int] = []
        for ln in loc.line:
            j = func_index.get(ln.function_id)
            if j is None:
                raise ProfileError(f"{name}: corrupt profile (location {loc.id} names missing function "
                                   f"{ln.function_id})")
            fname, filename, _start = funcs[j]
            key = (filename, ln.line)
            k = line_ids.get(key)
            if k is None:
                k = line_ids[key] = len(lines)
                lines.append(key)
                line_func.append(fname)
            lk.append(k)
            fk.append(j)
        loc_index[loc.id] = len(loc_lines)
        loc_lines.append(tuple(lk))
        loc_funcs.append(tuple(fk))
    return lines, line_func, loc_lines, loc_funcs, loc_index


def _stacks(msg, loc_index, ntypes: int, name: str):
    """Group samples by identical location stack (as location indices), summing their values.

    The per-sample work is kept to C-level iteration (map/attrgetter); Python code
    runs once per distinct stack.
    """
    samples = msg.sample
    ids = list(map(tuple, map(attrgetter("location_id"), samples)))
    values = list(map(tuple, map(attrgetter("value"), samples)))
    bad = {n for n in map(len, values) if n != ntypes}
    if bad:
        raise ProfileError(f"{name}: corrupt profile (a sample has {bad.pop()} values, {ntypes} sample types)")
    raw: dict[tuple[int, ...], list[int]] = {}
    get = raw.get
    for key, vals in zip(ids, values):
        acc = get(key)
        if acc is None:
            raw[key] = list(vals)
        else:
            for i, v in enumerate(vals):
                acc[i] += v
    del ids, values
    index_of = loc_index.__getitem__
    stacks: dict[tuple[int, ...], list[int]] = {}
    try:
        for key, vals in raw.items():
            stacks[tuple(map(index_of, key))] = vals
    except KeyError as exc:
        raise ProfileError(f"{name}: corrupt profile (sample names missing location {exc.args[0]})") from None
    return stacks, len(samples)
