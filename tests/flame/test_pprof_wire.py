"""rundir.pprof.wire: samples decoded in chunks give the profile that decoding the message whole gives."""
from __future__ import annotations

import gzip
import random

import pytest

from rundir.pprof import ProfileError, load_profile, model, wire
from rundir.pprof.proto import Profile as ProfileMessage
from tests.flame.test_flame_synthetic import make_profile, random_samples


def whole(raw: bytes):
    """The profile as the loader made it before wire.py: one message, decoded at once."""
    return model._without_gc(model._build, model._decode(raw, "<bytes>"), "<bytes>")


def same(a, b) -> None:
    assert (a.stacks, a.sample_count, a.loc_lines, a.loc_funcs, a.funcs, a.sample_types, a.time_nanos) == \
        (b.stacks, b.sample_count, b.loc_lines, b.loc_funcs, b.funcs, b.sample_types, b.time_nanos)


def interleaved(raw: bytes, rnd: random.Random) -> bytes:
    """The same message with its samples spread among its other fields at random (a message is the
    concatenation of its fields; the other fields keep their order: the string table's is its
    meaning) and one sample written with a two-byte tag."""
    msg = ProfileMessage()
    msg.ParseFromString(raw)
    pieces = []
    for sample in msg.sample:
        one = ProfileMessage()
        one.sample.add().CopyFrom(sample)
        pieces.append(one.SerializeToString())
    rest = ProfileMessage()
    rest.CopyFrom(msg)
    del rest.sample[:]
    rest.time_nanos = 1234567
    tables = rest.SerializeToString()
    # split the tables into their fields (wire.py's own walker is what is tested: use protobuf's)
    fields, pos = [], 0
    while pos < len(tables):
        end = wire._skip(tables, pos)
        fields.append(tables[pos:end])
        pos = end
    odd = b"\x92\x00" + pieces[0][1:]        # field 2, wire type 2, tag in two bytes
    samples = [odd] + pieces[1:]
    out = []
    while samples or fields:
        side = samples if samples and (not fields or rnd.random() < 0.7) else fields
        out.append(side.pop(0))
    return b"".join(out)


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 16])
def test_chunked_samples_give_the_same_profile(monkeypatch, chunk):
    monkeypatch.setattr(wire, "CHUNK_SAMPLES", chunk)
    for seed in range(6):
        rnd = random.Random(seed)
        raw = make_profile(random_samples(rnd, 300))
        same(load_profile(raw), whole(raw))
        mixed = interleaved(raw, rnd)
        same(load_profile(mixed), whole(mixed))
        same(load_profile(gzip.compress(mixed)), whole(mixed))
        assert load_profile(mixed).sample_count == 300


def test_spans_hold_at_most_a_chunk_of_whole_samples(monkeypatch):
    monkeypatch.setattr(wire, "CHUNK_SAMPLES", 10)
    raw = make_profile(random_samples(random.Random(3), 95))
    rest, spans = wire.split_samples(raw)
    counts = []
    for start, end in spans:
        msg = ProfileMessage()
        msg.ParseFromString(raw[start:end])
        assert not msg.location and not msg.string_table
        counts.append(len(msg.sample))
    assert counts == [10] * 9 + [5]
    tables = ProfileMessage()
    tables.ParseFromString(rest)
    assert not tables.sample and tables.string_table


@pytest.mark.parametrize("cut", [1, 2, 5, 40, -1, -3])
def test_a_truncated_message_fails_as_decoding_it_whole_does(cut):
    raw = make_profile(random_samples(random.Random(5), 50))
    bad = raw[:cut] if cut > 0 else raw[:len(raw) + cut]
    try:
        whole(bad)
    except ProfileError as e:
        expected = str(e)
    else:
        expected = None
    if expected is None:
        load_profile(bad)
    else:
        with pytest.raises(ProfileError) as got:
            load_profile(bad)
        assert str(got.value) == expected
