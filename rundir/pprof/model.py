"""Loading a pprof file into a compact, aggregation-friendly form.

The protobuf library decodes the message; this module validates it and turns
it into flat tables: interned source lines and functions, per-location frame
lists (innermost first, as pprof stores inlined frames) and samples grouped by
identical location stack. Aggregation (see aggregate.py) then works once per
distinct stack instead of once per sample.
"""
from __future__ import annotations

import gc
import itertools
import os
import re
import stat
import zlib
from dataclasses import dataclass, field
from functools import partial
from operator import attrgetter, itemgetter

from google.protobuf.message import DecodeError

from rundir.pprof.proto import Profile as ProfileMessage
from rundir.pprof.wire import split_samples

_GZIP_MAGIC = b"\x1f\x8b"
_MIB = 1 << 20
_CHUNK = 1 << 20
_ZEROS = re.compile(rb"\0*")
# Beyond this a value or a total is no measurement (1e18 ns are 31 years, 1e18 bytes an exabyte).
IMPLAUSIBLE_VALUE = 10**18
# A CPU profile records at most this many CPUs busy for its whole duration.
MAX_CPUS = 1024


class ProfileError(ValueError):
    """A file that is not a readable pprof profile; the message is one line."""


class ProfileTooLarge(ProfileError):
    """The file, or what it decompresses to, is larger than the caller's limit."""


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


def load_profile(source: str | os.PathLike | bytes, max_bytes: int | None = None) -> Profile:
    """Read a pprof profile from a path or bytes, gzip-compressed or not. Only regular files are
    read; with `max_bytes` neither the file nor its decompressed content may be larger
    (ProfileTooLarge, found without reading or inflating more than the limit)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "<bytes>"
    else:
        name = os.fspath(source)
        data = _read_file(name, max_bytes)
    raw = _decompress(data, name, max_bytes)
    del data
    split = split_samples(raw)
    if split is None:       # not well formed at the top level: decoded whole, for the error
        split = (raw, [])
    msg = _decode(split[0], name)
    prof = _without_gc(_build, msg, name, _sample_chunks(raw, split[1], name))
    prof.source = name
    return prof


def _decode(data, name: str):
    msg = ProfileMessage()
    try:
        msg.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise ProfileError(f"{name}: not a pprof profile (protobuf decode failed: {exc})") from None
    return msg


def _sample_chunks(raw: bytes, spans: list[tuple[int, int]], name: str):
    """The samples of each span of raw (wire.split_samples), one chunk decoded at a time: a million
    samples never exist as protobuf objects at once."""
    view = memoryview(raw)
    for start, end in spans:
        yield _decode(view[start:end], name).sample


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


def _too_large(name: str, what: str, max_bytes: int) -> ProfileTooLarge:
    return ProfileTooLarge(f"{name}: {what} more than the limit of {max_bytes / _MIB:g} MiB")


def _read_file(name: str, max_bytes: int | None) -> bytes:
    """The bytes of a regular file (a directory, a FIFO or a device such as /dev/zero is refused
    unread; opening with O_NONBLOCK never waits for a FIFO's writer)."""
    try:
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except (OSError, ValueError) as exc:
        raise ProfileError(f"{name}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ProfileError(f"{name}: not a regular file (a directory, device, FIFO or socket); not read")
        if max_bytes is not None and st.st_size > max_bytes:
            raise _too_large(name, f"file of {st.st_size} bytes,", max_bytes)
        data = _read_fd(fd, max_bytes)
    except OSError as exc:
        raise ProfileError(f"{name}: cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if max_bytes is not None and len(data) > max_bytes:
        raise _too_large(name, "file grew while read to", max_bytes)
    return data


def _read_fd(fd: int, limit: int | None) -> bytes:
    """Up to limit + 1 bytes (everything when limit is None)."""
    parts, size = [], 0
    while limit is None or size <= limit:
        part = os.read(fd, _CHUNK)
        if not part:
            break
        parts.append(part)
        size += len(part)
    return b"".join(parts)


def _decompress(data: bytes, name: str, max_bytes: int | None = None) -> bytes:
    """gzip inflated chunk by chunk, stopping as soon as the output passes `max_bytes`: a gzip
    bomb costs the limit, not what it expands to."""
    if not data:
        raise ProfileError(f"{name}: empty file, not a pprof profile")
    if not data.startswith(_GZIP_MAGIC):
        return data
    out, size = [], 0
    try:
        for chunk in _inflated(data, name):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise _too_large(name, "decompresses to", max_bytes)
            out.append(chunk)
    except zlib.error as exc:
        raise ProfileError(f"{name}: truncated or corrupt gzip data ({exc})") from None
    return b"".join(out)


def _inflated(data: bytes, name: str):
    """The content of gzip data (one member or several, zero padding allowed) in pieces of at
    most _CHUNK bytes, fed _CHUNK bytes of input at a time."""
    view, pos = memoryview(data), 0
    while pos < len(data):
        inflater, tail = zlib.decompressobj(16 + zlib.MAX_WBITS), b""
        while not inflater.eof:
            if not tail:
                tail, pos = view[pos:pos + _CHUNK], min(pos + _CHUNK, len(data))
            chunk = inflater.decompress(tail, _CHUNK)
            tail = inflater.unconsumed_tail
            if not chunk and not tail and pos >= len(data) and not inflater.eof:
                raise ProfileError(f"{name}: truncated or corrupt gzip data (the stream ends early)")
            yield chunk
        pos = _ZEROS.match(data, pos - len(inflater.unused_data)).end()   # unused: after this member
        if pos < len(data) and not data.startswith(_GZIP_MAGIC, pos):
            raise ProfileError(f"{name}: truncated or corrupt gzip data (garbage after the stream)")


def implausible(prof: Profile) -> str | None:
    """What makes a decoded profile no measurement, or None: a negative value (a profile counts
    what happened; only in-use memory may shrink between the two snapshots of a delta profile),
    a value or total beyond 1e18, more CPU time than MAX_CPUS could spend in its duration."""
    values = list(prof.stacks.values())
    for i, (kind, unit) in enumerate(prof.sample_types):
        low = min(map(itemgetter(i), values), default=0)
        high = max(map(itemgetter(i), values), default=0)
        total = prof.total(i)
        if low < 0 and not kind.startswith("inuse_"):
            return f"negative {kind} values (lowest {low} {unit}); a profile counts what happened"
        worst = max(abs(low), high, abs(total))
        if worst > IMPLAUSIBLE_VALUE:
            return f"{kind} values up to {worst:.3g} {unit}, beyond any measurement (limit 1e18)"
        if kind == "cpu" and unit == "nanoseconds" and prof.duration_ns > 0 \
                and total > prof.duration_ns * MAX_CPUS:
            return (f"{total / 1e9:.3g}s of cpu in a profile of {prof.duration_ns / 1e9:.3g}s, more than "
                    f"{MAX_CPUS} CPUs could spend")
    return None


def _build(msg, name: str, chunks=()) -> Profile:
    """The Profile of a decoded message; `chunks`: more samples (decoded apart, see wire.py)."""
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
    samples = itertools.chain([msg.sample], chunks)
    stacks, count, loc_lines, loc_funcs = _stacks(samples, loc_index, loc_lines, loc_funcs, len(sample_types),
                                                  name)
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


def _group(chunks, canon: dict[int, int], ntypes: int, name: str
           ) -> tuple[dict[tuple[int, ...], list[int]], int]:
    """Sum the values of samples with identical stacks (one dict step per sample); also the number of
    samples. `chunks` yields containers of samples.

    Location ids go through ``canon`` (a dict lookup at C level): that validates them and makes
    every stack share one int object per location instead of allocating ints per frame.
    """
    raw: dict[tuple[int, ...], list[int]] = {}
    get = raw.get
    count = 0
    try:
        for samples in chunks:
            count += len(samples)
            ids = map(attrgetter("location_id"), samples)
            keys = map(tuple, map(partial(map, canon.__getitem__), ids))
            for key, vals in zip(keys, map(attrgetter("value"), samples)):
                acc = get(key)
                if acc is None:
                    acc = raw[key] = vals[:]       # a list (slicing a protobuf container is 3x faster)
                    if len(acc) != ntypes:
                        raise ProfileError(f"{name}: corrupt profile (a sample has {len(vals)} values, "
                                           f"{ntypes} sample types)")
                elif len(vals) != ntypes:
                    raise ProfileError(f"{name}: corrupt profile (a sample has {len(vals)} values, "
                                       f"{ntypes} sample types)")
                else:
                    for i, v in enumerate(vals):
                        acc[i] += v
    except KeyError as exc:
        raise ProfileError(f"{name}: corrupt profile (sample names missing location {exc.args[0]})") from None
    return raw, count


def _stacks(samples, loc_index, loc_lines, loc_funcs, ntypes: int, name: str):
    """Samples grouped by stack, their number, and the location tables the stack keys index.

    Location ids are usually dense (1..N): then the tables are laid out by id and
    stacks keep the ids; otherwise stacks hold positions in the tables.
    """
    max_id = max(loc_index, default=0)
    if max_id > 2 * len(loc_index) + 16:
        return (*_group(samples, loc_index, ntypes, name), loc_lines, loc_funcs)
    by_id_lines: list[tuple[int, ...]] = [()] * (max_id + 1)
    by_id_funcs: list[tuple[int, ...]] = [()] * (max_id + 1)
    for lid, i in loc_index.items():
        by_id_lines[lid], by_id_funcs[lid] = loc_lines[i], loc_funcs[i]
    canon = {lid: lid for lid in loc_index}
    return (*_group(samples, canon, ntypes, name), by_id_lines, by_id_funcs)
