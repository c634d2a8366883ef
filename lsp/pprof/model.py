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
from functools import partial
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
    ``stacks`` maps a stack of keys into ``loc_lines``/``loc_funcs`` (location ids when
    they are dense, else positions; leaf first) to the summed
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
    stacks, loc_lines, loc_funcs = _stacks(msg, loc_index, loc_lines, loc_funcs, len(sample_types), name)
    count = len(msg.sample)
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


def _group(samples, canon: dict[int, int], ntypes: int, name: str) -> dict[tuple[int, ...], list[int]]:
    """Sum the values of samples with identical stacks (one dict step per sample).

    Location ids go through ``canon`` (a dict lookup at C level): that validates them and makes
    every stack share one int object per location instead of allocating ints per frame.
    """
    raw: dict[tuple[int, ...], list[int]] = {}
    get = raw.get
    keys = map(tuple, map(partial(map, canon.__getitem__), map(attrgetter("location_id"), samples)))
    try:
        for key, vals in zip(keys, map(attrgetter("value"), samples)):
            acc = get(key)
            if acc is None:
                acc = raw[key] = list(vals)
                if len(acc) != ntypes:
                    break
            elif len(vals) != ntypes:
                break
            else:
                for i, v in enumerate(vals):
                    acc[i] += v
        else:
            return raw
    except KeyError as exc:
        raise ProfileError(f"{name}: corrupt profile (sample names missing location {exc.args[0]})") from None
    raise ProfileError(f"{name}: corrupt profile (a sample has {len(vals)} values, {ntypes} sample types)")


def _stacks(msg, loc_index, loc_lines, loc_funcs, ntypes: int, name: str):
    """Samples grouped by stack, and the location tables the stack keys index.

    Location ids are usually dense (1..N): then the tables are laid out by id and
    stacks keep the ids; otherwise stacks hold positions in the tables.
    """
    max_id = max(loc_index, default=0)
    if max_id > 2 * len(loc_index) + 16:
        return _group(msg.sample, loc_index, ntypes, name), loc_lines, loc_funcs
    by_id_lines: list[tuple[int, ...]] = [()] * (max_id + 1)
    by_id_funcs: list[tuple[int, ...]] = [()] * (max_id + 1)
    for lid, i in loc_index.items():
        by_id_lines[lid], by_id_funcs[lid] = loc_lines[i], loc_funcs[i]
    canon = {lid: lid for lid in loc_index}
    return _group(msg.sample, canon, ntypes, name), by_id_lines, by_id_funcs
