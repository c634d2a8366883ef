"""Fuzz (issue 12, "Done when"): the real server, over stdio, survives corrupt run directories.

One server process serves every case. A case starts from a pristine copy of the fixture run,
breaks it (a truncated or type-swapped manifest, deep nesting, huge or negative sample values,
artifact paths outside the run, gzip bombs, /dev/zero or a FIFO as artifact, ...), asks for a
reload and then a hover on the hot line, which must be answered within HOVER_BOUND: a liveness
bound, not a performance target (only the hover is timed). The seed is fixed, so a failing case
is named and reproduces. No case may need the handlers' last resort ("internal error"): every
corruption is handled where it is read.
"""
from __future__ import annotations

import asyncio
import gzip
import json
import os
import random
import shutil
from pathlib import Path
from time import perf_counter

import pytest

from rundir.pprof.proto import Profile as ProfileMessage
from tests.lsp.lspfixtures import RUN_ID, gzip_bomb, marker_line
from tests.lsp.lsphelpers import command, hints, hover, open_doc

SEED = 20261201
CASES = 300
HOVER_BOUND = 1.0          # seconds
HANG_GUARD = 60.0          # seconds for a reload: only catches a server that stopped answering
FAULT_CPU = "profiles/fault/api/cpu.pb.gz"
BASE_CPU = "profiles/baseline/api/cpu.pb.gz"
JUNK = ["x", "", 0, -1, 1.5, 10**30, -(10**30), 2**63, True, None, [], {}, [[["deep"]]], {"a": {"b": []}},
        "../../../../etc/passwd", 1e308, "\u0000", "é" * 50]
OUTSIDE = ["../../../../etc/passwd", "/etc/passwd", "/dev/zero", "profiles/../../../x.pb.gz", "../" * 12,
           "/proc/self/environ", "bad\u0000path"]

# What the server says about the corruptions above (each must show up at least once).
EXPECTED = ("left out, the rest is used", "points outside the run directory", "broken run directory",
            "nested too deeply", "broken JSON", "not a regular file", "decompresses to more than the limit of 4 MiB",
            "harness.maxProfileMiB", "implausible profile", "values (lowest -", "beyond any measurement",
            "truncated or corrupt gzip", "not a pprof profile", "corrupt profile")


@pytest.fixture
def init_options() -> dict:
    # No polling: every reload is the test's own. A 4 MiB limit keeps the gzip bombs cheap.
    return {"pollInterval": 3600, "threshold": 0.01, "maxProfileMiB": 4}


class Case:
    """One corruption of the run directory `run` (rng: the fuzz's random source)."""

    def __init__(self, rng: random.Random, run: Path, outside_profile: Path, pristine: Path):
        self.rng, self.run, self.outside, self.pristine = rng, run, outside_profile, pristine

    # ---- the manifest ----------------------------------------------------------------------------
    def manifest(self) -> dict:
        """The run's manifest, or the pristine one when an earlier mutation left no usable one."""
        try:
            m = json.loads((self.run / "manifest.json").read_text())
            if all(isinstance(a, dict) and isinstance(a.get("kind"), str) for a in m["artifacts"]):
                return m
        except Exception:  # noqa: BLE001, S110 - broken by an earlier mutation
            pass
        return json.loads((self.pristine / "manifest.json").read_text())

    def write(self, manifest) -> None:
        (self.run / "manifest.json").write_text(json.dumps(manifest))

    def _nodes(self, manifest) -> list[tuple[object, object]]:
        """(container, key) of every value in the manifest."""
        out, todo = [], [manifest]
        while todo:
            node = todo.pop()
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, value in items:
                out.append((node, key))
                if isinstance(value, (dict, list)):
                    todo.append(value)
        return out

    def swap_type(self) -> str:
        m = self.manifest()
        for _ in range(self.rng.randint(1, 4)):
            node, key = self.rng.choice(self._nodes(m))
            node[key] = self.rng.choice(JUNK)
        self.write(m)
        return "manifest values of another type"

    def delete_key(self) -> str:
        m = self.manifest()
        node, key = self.rng.choice(self._nodes(m))
        del node[key]
        self.write(m)
        return f"manifest without {key!r}"

    def deep(self) -> str:
        depth = self.rng.choice([200, 990, 5000, 100_000])
        text = (self.run / "manifest.json").read_text()
        if self.rng.random() < 0.5:
            text = "[" * depth + "]" * depth
        else:
            text = text.replace('"source_hashes": {', '"source_hashes": {"deep": ' + "[" * depth + "]" * depth + ", ", 1)
        (self.run / "manifest.json").write_text(text)
        return f"JSON nested {depth} deep"

    def truncate_manifest(self) -> str:
        data = (self.run / "manifest.json").read_bytes()
        (self.run / "manifest.json").write_bytes(data[: self.rng.randrange(max(len(data), 1))])
        return "truncated manifest"

    def garbage_manifest(self) -> str:
        choice = self.rng.choice([b"", b"null", b"[]", b'"run"', b"9" * 5000, b"\xff\xfe\x00", b"{" * 3,
                                  self.rng.randbytes(300), b'{"artifacts": {"kind": "cpu"}}'])
        (self.run / "manifest.json").write_bytes(choice)
        return f"manifest {choice[:20]!r}"

    def outside_path(self) -> str:
        m = self.manifest()
        arts = [a for a in m["artifacts"] if a["kind"] == "cpu"] or m["artifacts"]
        path = self.rng.choice([*OUTSIDE, str(self.outside), "../../elsewhere/cpu.pb.gz"])
        for art in self.rng.sample(arts, self.rng.randint(1, len(arts))):
            art["path"] = path
        self.write(m)
        return f"artifact path {path!r}"

    # ---- the files ---------------------------------------------------------------------------------
    def _file(self, *choices: str) -> Path:
        """One of the profiles, as a regular file again if an earlier mutation made it something else."""
        target = self.run / self.rng.choice(choices)
        if target.is_symlink() or not target.is_file():
            shutil.rmtree(target) if target.is_dir() and not target.is_symlink() else target.unlink()
            shutil.copy(self.outside, target)
        return target

    def special_file(self) -> str:
        target = self._file(FAULT_CPU, BASE_CPU)
        target.unlink()
        kind = self.rng.choice(["/dev/zero", "fifo", "dir", "loop", "outside", "empty"])
        if kind == "fifo":
            os.mkfifo(target)
        elif kind == "dir":
            target.mkdir()
        elif kind == "loop":
            target.symlink_to(target)
        elif kind == "empty":
            target.write_bytes(b"")
        else:
            target.symlink_to(self.outside if kind == "outside" else kind)
        return f"{target.name} is {kind}"

    def bomb(self) -> str:
        target = self._file(FAULT_CPU, BASE_CPU)
        if self.rng.random() < 0.7:
            mib = self.rng.choice([5, 8, 16, 64])
            gzip_bomb(target, mib)
            return f"gzip bomb of {mib} MiB"
        target.write_bytes(bytes(5 << 20))
        return "5 MiB raw file"

    def truncate_profile(self) -> str:
        target = self._file(FAULT_CPU, BASE_CPU)
        data = target.read_bytes()
        target.write_bytes(data[: self.rng.randrange(max(len(data), 1))])
        return "truncated profile"

    def flip_bytes(self) -> str:
        target = self._file(FAULT_CPU)
        try:
            raw = bytearray(gzip.decompress(target.read_bytes()))
        except (OSError, EOFError):    # already broken by an earlier mutation
            return "flip bytes: nothing to flip"
        for _ in range(self.rng.randint(1, 20)):
            raw[self.rng.randrange(len(raw))] = self.rng.randrange(256)
        target.write_bytes(gzip.compress(bytes(raw), 1))
        return "flipped profile bytes"

    def _edit(self, change) -> None:
        target = self._file(FAULT_CPU, FAULT_CPU, BASE_CPU)
        msg = ProfileMessage()
        try:
            msg.ParseFromString(gzip.decompress(target.read_bytes()))
        except Exception:  # noqa: BLE001 - already broken by an earlier mutation: start from a valid one
            msg.ParseFromString(gzip.decompress(self.outside.read_bytes()))
        change(msg)
        target.write_bytes(gzip.compress(msg.SerializeToString(), 1))

    def values(self) -> str:
        value = self.rng.choice([-1, -490_000_000, 2**63 - 1, -(2**63), 10**18 + 1, 0, 3 * 10**17])
        share = self.rng.choice([0.01, 0.5, 1.0])

        r = random.Random(self.rng.random())     # draws inside one profile: the case sequence stays the seed's

        def change(msg):
            for sample in msg.sample:
                if sample.value and r.random() < share:
                    sample.value[r.randrange(len(sample.value))] = value
        self._edit(change)
        return f"sample values {value}"

    def lines_and_names(self) -> str:
        line = self.rng.choice([0, -1, 2**31, 2**62, 10**9])
        name = self.rng.choice(["", "/dev/zero", "../../../etc/passwd", "x" * 5000, "example.com/hot/main.go"])

        r = random.Random(self.rng.random())     # as in values(): the profile's size draws from its own

        def change(msg):
            for loc in msg.location:
                for ln in loc.line:
                    if r.random() < 0.3:
                        ln.line = line
            for fn in msg.function[: r.randint(1, max(1, len(msg.function)))]:
                msg.string_table[fn.filename] = name
        self._edit(change)
        return f"lines {line}, file names {name[:20]!r}"

    def structure(self) -> str:
        what = self.rng.choice(["dangling location", "value count", "duration", "no sample types", "string index",
                                "default type"])

        def change(msg):
            if what == "dangling location":
                msg.sample[0].location_id.append(10**12)
            elif what == "value count":
                msg.sample[-1].value.append(5)
            elif what == "duration":
                msg.duration_nanos = self.rng.choice([-1, 1, 2**63 - 1])
            elif what == "no sample types":
                del msg.sample_type[:]
            elif what == "string index":
                msg.function[0].name = 10**9
            else:
                msg.default_sample_type = -5
        self._edit(change)
        return f"profile structure: {what}"

    def garbage_profile(self) -> str:
        target = self._file(FAULT_CPU)
        data = self.rng.randbytes(self.rng.randint(1, 4000))
        target.write_bytes(gzip.compress(data) if self.rng.random() < 0.5 else data)
        return "random profile bytes"

    MUTATIONS = (swap_type, swap_type, delete_key, deep, truncate_manifest, garbage_manifest, outside_path,
                 outside_path, special_file, special_file, bomb, truncate_profile, flip_bytes, values, values,
                 lines_and_names, structure, garbage_profile)

    def apply(self) -> str:
        """One mutation, sometimes two; what was done."""
        chosen = [self.rng.choice(self.MUTATIONS) for _ in range(1 if self.rng.random() < 0.8 else 2)]
        return "; ".join(mutate(self) for mutate in chosen)


def restore(pristine: Path, run: Path) -> None:
    """The run as the fixture made it (rmtree unlinks FIFOs and symlinks, never opens them)."""
    shutil.rmtree(run, ignore_errors=True)
    shutil.copytree(pristine, run)


async def test_server_survives_corrupt_run_directories(client, workspace, built, tmp_path):
    run = workspace / "runs" / RUN_ID
    pristine = tmp_path / "pristine"
    shutil.copytree(run, pristine)
    outside = workspace / "elsewhere" / "cpu.pb.gz"       # a valid profile outside the run
    outside.parent.mkdir()
    shutil.copy(built.fault / "cpu.pb.gz", outside)
    uri = open_doc(client, workspace / "goprog" / "main.go")
    hot = marker_line("cpu")
    assert await hover(client, uri, hot) is not None
    rng = random.Random(SEED)
    slowest = 0.0
    for i in range(CASES):
        restore(pristine, run)
        # each case draws from its own stream: a case whose draws depend on the profile built for
        # this run (its size, its samples) does not change which cases come after it
        what = f"case {i}: " + Case(random.Random(rng.random()), run, outside, pristine).apply()
        status = await asyncio.wait_for(command(client, "harness.reload"), HANG_GUARD)
        assert isinstance(status, dict) and "error" not in status, (what, status)
        start = perf_counter()
        await asyncio.wait_for(hover(client, uri, hot), HANG_GUARD)
        took = perf_counter() - start
        assert took < HOVER_BOUND, f"{what}: hover answered after {took:.2f}s"
        slowest = max(slowest, took)
    internal = [m.message for m in client.messages if "internal error" in m.message]
    assert not internal, internal
    told = " ".join(m.message for m in client.messages)
    for seen in EXPECTED:   # the corruptions were met and named where they are read
        assert seen in told, seen
    restore(pristine, run)
    await command(client, "harness.reload")
    assert hot - 1 in {h.position.line for h in await hints(client, uri)}       # fully back
    print(f"{CASES} cases, slowest hover {slowest * 1000:.0f} ms")
