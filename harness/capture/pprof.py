"""Fetching pprof endpoints and the profile arithmetic the captures need.

Block and mutex profiles are cumulative since the process started; the capture of a
phase is the difference of a snapshot at its end and one at its start (`subtract`).
"""
from __future__ import annotations

import gzip
import http.client
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass

from rundir.pprof.proto import Profile

ENDPOINTS = {"heap": "heap", "allocs": "allocs", "goroutine": "goroutine", "block": "block",
             "mutex": "mutex"}


class FetchError(Exception):
    """A pprof endpoint could not be read; the message says which URL and what was seen."""


@dataclass(frozen=True)
class Snapshot:
    data: bytes                  # the profile as served (gzip-compressed protobuf)
    sent_s: float                # run clock when the request was sent
    done_s: float                # run clock when the body was read


log = logging.getLogger("harness.capture")


def http_get(url: str, timeout: float) -> bytes:
    """GET a URL on the service's pprof listener (loopback).

    A body cut short keeps what arrived when it is a whole gzip stream (every profile is one: its
    trailer holds a CRC and the length, so a cut inside it cannot pass): a connection closed
    between a chunked body's last byte and its terminator loses nothing. Anything else cut short
    is a FetchError."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.read()
    except urllib.error.HTTPError as e:
        body = e.read()[:200].decode(errors="replace").strip()
        raise FetchError(f"GET {url}: HTTP {e.code} {body}") from None
    except http.client.IncompleteRead as e:
        if whole_gzip(e.partial):
            log.info("GET %s: connection closed after a whole body of %d bytes; kept", url, len(e.partial))
            return e.partial
        raise FetchError(f"GET {url}: connection closed after {len(e.partial)} bytes of the body") from None
    except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", e)
        raise FetchError(f"GET {url}: {reason or type(e).__name__}") from None


def whole_gzip(data: bytes) -> bool:
    """Whether `data` is one complete gzip stream (checked by its CRC and length trailer)."""
    if data[:2] != b"\x1f\x8b":
        return False
    try:
        gzip.decompress(data)
    except (OSError, EOFError, ValueError):
        return False
    return True


def origin(pprof_url: str) -> str:
    """http://127.0.0.1:6060/debug/pprof -> http://127.0.0.1:6060 (the service's debug server)."""
    base = pprof_url.rstrip("/")
    return base[: -len("/debug/pprof")] if base.endswith("/debug/pprof") else base


def profile_url(base: str, kind: str, seconds: int | None = None) -> str:
    base = base.rstrip("/")
    if kind == "cpu":
        return f"{base}/profile?seconds={seconds}"
    if kind == "trace":
        return f"{base}/trace?seconds={seconds}"
    return f"{base}/{ENDPOINTS[kind]}"


def parse(data: bytes) -> Profile:
    """The protobuf message of a (possibly gzipped) profile; FetchError if it is not one."""
    raw = data
    if data[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise FetchError(f"corrupt gzip data ({e})") from None
    msg = Profile()
    try:
        msg.ParseFromString(raw)
    except Exception as e:  # noqa: BLE001 - the protobuf runtime raises DecodeError or RuntimeError
        raise FetchError(f"not a pprof profile ({e}); the endpoint served {raw[:60]!r}") from None
    if not msg.sample_type:
        raise FetchError(f"not a pprof profile (no sample types); the endpoint served {raw[:60]!r}")
    return msg


def sample_types(msg: Profile) -> list[str]:
    s = msg.string_table
    return [f"{s[vt.type]}/{s[vt.unit]}" for vt in msg.sample_type]


def _stack_key(msg: Profile, locs: dict[int, tuple], sample) -> tuple:
    labels = tuple(sorted((msg.string_table[lb.key], msg.string_table[lb.str], lb.num)
                          for lb in sample.label))
    return tuple(locs.get(i, (i,)) for i in sample.location_id) + (labels,)


def _location_keys(msg: Profile) -> dict[int, tuple]:
    """A location's identity across two snapshots of one process: its address, or its lines."""
    s = msg.string_table
    funcs = {f.id: (s[f.name], s[f.filename]) for f in msg.function}
    out = {}
    for loc in msg.location:
        lines = tuple((funcs.get(ln.function_id), ln.line) for ln in loc.line)
        out[loc.id] = (loc.address, lines)
    return out


def _aggregate(msg: Profile) -> dict[tuple, tuple]:
    """Samples of one profile keyed by stack and labels: key -> (first sample, summed values)."""
    keys = _location_keys(msg)
    out: dict[tuple, tuple] = {}
    for sample in msg.sample:
        key = _stack_key(msg, keys, sample)
        if key in out:
            acc = out[key][1]
            for i, v in enumerate(sample.value):
                acc[i] += v
        else:
            out[key] = (sample, list(sample.value))
    return out


def subtract(after: Profile, before: Profile) -> Profile:
    """`after - before`, sample by sample (same stack and labels); non-positive results are dropped."""
    prior = {k: vals for k, (_s, vals) in _aggregate(before).items()}
    out = Profile()
    out.CopyFrom(after)
    del out.sample[:]
    for key, (sample, vals) in _aggregate(after).items():
        base = prior.get(key, [])
        values = [v - (base[i] if i < len(base) else 0) for i, v in enumerate(vals)]
        if any(v > 0 for v in values):
            new = out.sample.add()
            new.CopyFrom(sample)
            del new.value[:]
            new.value.extend(max(v, 0) for v in values)
    if before.time_nanos and after.time_nanos > before.time_nanos:
        out.time_nanos = before.time_nanos
        out.duration_nanos = after.time_nanos - before.time_nanos
    return out


def encode(msg: Profile) -> bytes:
    return gzip.compress(msg.SerializeToString(), compresslevel=6)
