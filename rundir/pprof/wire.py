"""The top level of a pprof message on the wire: its samples apart from everything else.

A profile of a million samples decodes, as one protobuf message, to some 400 bytes per sample,
all alive while the samples are grouped into stacks. model.py instead decodes the tables (every
field but the samples) as one message and the samples in chunks of CHUNK_SAMPLES, each chunk a
message of its own (a protobuf message is the concatenation of its fields, so a run of sample
fields is a valid message), dropped once grouped. This module finds those runs: one pass over the
top-level fields, reading tags and lengths only.
"""
from __future__ import annotations

CHUNK_SAMPLES = 1 << 16
_SAMPLE = 0x12   # field 2 (sample), wire type 2 (length-delimited), as every encoder writes it


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it); IndexError when the data ends inside it."""
    value = shift = 0
    while True:
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise IndexError("varint longer than 10 bytes")


def _skip(data: bytes, pos: int) -> int:
    """The end of the field at pos; IndexError for a field that is not well formed."""
    tag, pos = _varint(data, pos)
    kind = tag & 7
    if tag >> 3 == 0 or kind not in (0, 1, 2, 5):
        raise IndexError("field number 0 or a group")
    if kind == 0:
        return _varint(data, pos)[1]
    if kind == 2:
        length, pos = _varint(data, pos)
        return pos + length
    return pos + (8 if kind == 1 else 4)


def split_samples(data: bytes) -> tuple[bytes, list[tuple[int, int]]] | None:
    """(the bytes of every top-level field but the samples, spans (start, end) of data each holding
    at most CHUNK_SAMPLES whole sample fields), or None when the data is not a well-formed message
    at the top level (the caller then decodes it whole, for its error). A sample field with an
    unusual tag encoding stays with the rest (decoded there, not lost)."""
    view, n = memoryview(data), len(data)
    rest: list = []
    spans: list[tuple[int, int]] = []
    pos, start, count = 0, -1, 0
    try:
        while pos < n:
            if data[pos] == _SAMPLE:
                length = data[pos + 1]
                end = pos + 2 + length if length < 0x80 else sum(_varint(data, pos + 1))
                if start < 0:
                    start, count = pos, 0
                count += 1
                pos = end
                if count == CHUNK_SAMPLES:
                    spans.append((start, pos))
                    start = -1
                continue
            if start >= 0:
                spans.append((start, pos))
                start = -1
            end = _skip(data, pos)
            rest.append(view[pos:end])
            pos = end
    except IndexError:
        return None
    if pos != n:
        return None
    if start >= 0:
        spans.append((start, pos))
    return b"".join(rest), spans
