"""Bad input gives ProfileError with a one-line message, never another exception."""
from __future__ import annotations

import gzip

import pytest

from rundir.pprof import ProfileError, load_profile
from rundir.pprof.proto import Profile as ProfileMessage


def test_gzip_and_plain_load_the_same(built, tmp_path):
    data = (built.baseline / "cpu.pb.gz").read_bytes()
    plain = tmp_path / "cpu.pprof"
    plain.write_bytes(gzip.decompress(data))
    a, b = load_profile(data), load_profile(plain)
    assert a.sample_types == b.sample_types == [("samples", "count"), ("cpu", "nanoseconds")]
    assert a.total(1) == b.total(1) > 0
    assert a.default_index == 1 and a.duration_ns > 0 and a.period > 0


@pytest.mark.parametrize("name,make,expected", [
    ("truncated", lambda d: d[: len(d) // 2], "truncated or corrupt gzip"),
    ("corrupt", lambda d: gzip.compress(b"\xff\xff\xff\xff" + gzip.decompress(d)[4:]), "not a pprof profile"),
    ("text", lambda d: b"goroutine 1 [running]:\nmain.main()\n", "not a pprof profile"),
    ("empty", lambda d: b"", "empty file"),
    ("no sample types", lambda d: ProfileMessage(string_table=[""]).SerializeToString(), "no sample types"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_bad_input(built, tmp_path, name, make, expected):
    path = tmp_path / "bad.pb.gz"
    path.write_bytes(make((built.baseline / "cpu.pb.gz").read_bytes()))
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_missing_file(tmp_path):
    with pytest.raises(ProfileError, match="cannot read"):
        load_profile(tmp_path / "nope.pb.gz")


def test_dangling_location_reference(built):
    msg = ProfileMessage()
    msg.ParseFromString(gzip.decompress((built.baseline / "cpu.pb.gz").read_bytes()))
    msg.sample[0].location_id.append(999_999)
    with pytest.raises(ProfileError, match="missing location 999999"):
        load_profile(msg.SerializeToString())


def test_unknown_sample_type_lists_valid_ones(built):
    prof = load_profile(built.baseline / "allocs.pb.gz")
    with pytest.raises(ProfileError, match="alloc_space"):
        prof.index_of("cpu")


def test_sparse_location_ids_give_the_same_costs(built):
    from rundir.pprof import line_costs
    data = gzip.decompress((built.fault / "cpu.pb.gz").read_bytes())
    msg = ProfileMessage()
    msg.ParseFromString(data)
    for loc in msg.location:
        loc.id = loc.id * 1_000_003 + 7
    for sample in msg.sample:
        sample.location_id[:] = [i * 1_000_003 + 7 for i in sample.location_id]
    dense, sparse = load_profile(data), load_profile(msg.SerializeToString())
    assert len(sparse.loc_lines) == len(msg.location) < len(dense.loc_lines)   # the other layout
    assert line_costs(dense, 1) == line_costs(sparse, 1)
