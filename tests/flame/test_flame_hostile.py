"""`harness flame` on hostile profiles and output paths: never exit 3, never replace a device,
pipe or symlink, never more than 1 GB of memory (a real process for each file: `python -m
harness.cli`, and one fuzz process over 200 mutated profiles)."""
from __future__ import annotations

import gzip
import json
import os
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest

from tests.flame.test_flame_synthetic import make_profile

REPO = Path(__file__).resolve().parents[2]
FORMATS = ("folded", "speedscope", "json", "svg", "html")
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="mknod needs root")


def flame(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "harness.cli", "flame", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("hostile") / "plain.pb.gz"
    p.write_bytes(gzip.compress(make_profile([([[("main.a", 1)], [("main.main", 2)]], (3, 30))])))
    return p


def deep_loads(text: str):
    """json.loads of a document nested deeper than the recursion limit: in a thread with a big stack."""
    import threading
    got, old = {}, sys.getrecursionlimit()
    threading.stack_size(512 << 20)
    sys.setrecursionlimit(200_000)
    try:
        t = threading.Thread(target=lambda: got.setdefault("doc", json.loads(text)))
        t.start()
        t.join()
    finally:
        sys.setrecursionlimit(old)
        threading.stack_size(0)
    return got["doc"]


def test_a_5000_deep_stack_in_every_format(tmp_path):
    stack = [[(f"main.f{i}", i + 1)] for i in range(5000)]
    path = tmp_path / "deep.pb.gz"
    path.write_bytes(gzip.compress(make_profile([(stack, (1, 10))])))
    for fmt in FORMATS:
        out = tmp_path / f"deep.{fmt}"
        res = flame(str(path), "--format", fmt, "-o", str(out))
        assert res.returncode == 0, (fmt, res.stderr[-2000:])
        text = out.read_text()
        if fmt in ("json", "speedscope"):
            deep_loads(text)
        if fmt == "svg":
            ET.fromstring(text)
    tree = deep_loads((tmp_path / "deep.json").read_text())
    depth, node = 0, tree["root"] if "root" in tree else tree
    while node.get("c"):
        node, depth = node["c"][0], depth + 1
    assert depth >= 4999        # every frame kept (MAX_NODES, 5,000, may fold the last into "other")


def test_control_characters_in_names_keep_the_svg_valid(tmp_path):
    path = tmp_path / "nul.pb.gz"
    names = ["main.a\x00b", "main.\x1b[31mred", "main.\u202eevil", "main.<tag>&"]
    path.write_bytes(gzip.compress(make_profile([([[(n, 1)] for n in names], (5, 50))])))
    out = tmp_path / "nul.svg"
    res = flame(str(path), "--format", "svg", "-o", str(out))
    assert res.returncode == 0, res.stderr
    doc = ET.fromstring(out.read_text())
    text = "".join(doc.itertext())
    assert "\x00" not in text and "main.a\ufffdb" in text


def test_a_decompression_bomb_is_refused_within_the_cap(tmp_path):
    """300 MiB of zeros in 300 KB: refused by the cap (HARNESS_MAX_PROFILE_MIB), in bounded memory."""
    bomb = tmp_path / "bomb.pb.gz"
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    with open(bomb, "wb") as f:
        chunk = b"\0" * (1 << 20)
        for _ in range(300):
            f.write(comp.compress(chunk))
        f.write(comp.flush())
    code = ("import resource, sys\nfrom harness.cli import main\n"
            f"rc = main(['flame', {str(bomb)!r}, '--format', 'folded', '-o', {str(tmp_path / 'x')!r}])\n"
            "print(rc, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    res = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "HARNESS_MAX_PROFILE_MIB": "64"})
    rc, maxrss_kib = map(int, res.stdout.split())
    assert rc == 2 and "HARNESS_MAX_PROFILE_MIB" in res.stderr, res.stderr
    assert maxrss_kib < 400 << 10, maxrss_kib


@pytest.mark.parametrize("where,said", [("missing/out.svg", "does not exist"), (".", "it is a folder")])
def test_a_path_that_cannot_be_written_is_exit_2(plain, tmp_path, where, said):
    res = flame(str(plain), "--format", "svg", "-o", str(tmp_path / where))
    assert res.returncode == 2 and said in res.stderr, res.stderr


@ROOT_ONLY
def test_devices_are_written_through_never_replaced(plain, tmp_path):
    null, full = tmp_path / "null", tmp_path / "full"
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    assert flame(str(plain), "--format", "svg", "-o", str(null)).returncode == 0
    res = flame(str(plain), "--format", "svg", "-o", str(full))
    assert res.returncode == 2 and "full" in res.stderr, res.stderr
    for dev in (null, full):
        assert stat.S_ISCHR(os.lstat(dev).st_mode), f"{dev} was replaced"


def test_symlinks_and_pipes_are_written_through(plain, tmp_path):
    target = tmp_path / "target.folded"
    link = tmp_path / "link.folded"
    link.symlink_to(target)
    assert flame(str(plain), "--format", "folded", "-o", str(link)).returncode == 0
    assert link.is_symlink() and "main.a" in target.read_text()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE, text=True)
    res = flame(str(plain), "--format", "folded", "-o", str(fifo))
    got = reader.communicate(timeout=60)[0]
    assert res.returncode == 0 and "main.a" in got and stat.S_ISFIFO(os.lstat(fifo).st_mode)
    stdout_link = tmp_path / "stdout"
    stdout_link.symlink_to("/proc/self/fd/1")
    res = flame(str(plain), "--format", "folded", "-o", str(stdout_link))
    assert res.returncode == 0 and "main.a" in res.stdout and stdout_link.is_symlink()


FUZZ = r"""
import gzip, json, os, random, resource, stat, sys
from pathlib import Path
from harness.cli import main
seed, src, tmp = int(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
rng = random.Random(seed)
good = gzip.decompress(src.read_bytes())
os.mknod(tmp / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3)) if os.geteuid() == 0 else None
(tmp / "link").symlink_to(tmp / "linked")
(tmp / "dir").mkdir()
outs = ["out", "dir", "missing/out", "link"] + (["null"] if os.geteuid() == 0 else [])
codes = {}
for i in range(200):
    data = bytearray(good)
    for _ in range(rng.choice([0, 0, 1, 1, 2, 4, 8])):
        op = rng.random()
        at = rng.randrange(len(data)) if data else 0
        if op < 0.4 and data:
            data[at] = rng.randrange(256)
        elif op < 0.6:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op < 0.8 and data:
            del data[at:at + rng.randint(1, 32)]
        else:
            data = data[:at]
    prof = tmp / (f"p{i}.pb.gz" if i % 2 else f"p{i}.pb")
    prof.write_bytes(gzip.compress(bytes(data)) if i % 2 else bytes(data))
    fmt = rng.choice(["folded", "speedscope", "json", "svg", "html"])
    rc = main(["flame", str(prof), "--format", fmt, "-o", str(tmp / rng.choice(outs))])
    codes[str(rc)] = codes.get(str(rc), 0) + 1
    prof.unlink()
kinds = {n: stat.S_IFMT(os.lstat(tmp / n).st_mode) for n in ("link", "dir") + (("null",) if os.geteuid() == 0 else ())}
print(json.dumps({"codes": codes, "kinds": kinds, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def test_fuzz_200_mutated_profiles_and_hostile_outputs(tmp_path):
    seed_profile = tmp_path / "seed.pb.gz"
    stacks = [([[(f"main.f{i}", i + 1)], [("main.main", 9)]], (i + 1, 10 * (i + 1))) for i in range(20)]
    seed_profile.write_bytes(gzip.compress(make_profile(stacks)))
    work = tmp_path / "work"
    work.mkdir()
    res = subprocess.run([sys.executable, "-c", FUZZ, "7", str(seed_profile), str(work)], cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    got = json.loads(res.stdout.strip().splitlines()[-1])
    codes, kinds = got["codes"], got["kinds"]
    assert "3" not in codes, (codes, res.stderr[-3000:])
    assert sum(codes.values()) == 200 and codes.get("0", 0) > 0 and codes.get("2", 0) > 0, codes
    assert kinds["link"] == stat.S_IFLNK and kinds["dir"] == stat.S_IFDIR
    if "null" in kinds:
        assert kinds["null"] == stat.S_IFCHR
    assert got["maxrss_kib"] < 1 << 20, got        # under 1 GB
