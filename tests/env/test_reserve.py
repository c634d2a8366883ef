"""Run ids and compose projects are unique per run whatever the name and timing, and one
folder's prepare steps and image build run one run at a time (no Docker needed)."""
from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import pytest

from harness.env import reserve

START = 1795000000.0


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("HARNESS_STATE_DIR", str(tmp_path / "state"))
    (tmp_path / "state").mkdir()
    return tmp_path / "state"


def test_same_second_and_long_names_give_distinct_projects(tmp_path):
    name = "n" * 62        # long enough that a 60-character cut once lost the whole timestamp
    got = [reserve.reserve(tmp_path / f"runs{i}", name, START) for i in range(50)]
    ids = [rid for rid, _dir in got]
    projects = {reserve.project_name(rid) for rid in ids}
    assert len(set(ids)) == 50 and len(projects) == 50
    assert all(len(p) <= 60 for p in projects)
    assert all(reserve.project_name(rid).endswith(rid[-6:]) for rid in ids)
    assert all(d.is_dir() and d.name == rid for rid, d in got)


def test_a_repeated_suffix_is_refused_not_shared(tmp_path, state):
    """The registry makes a collision impossible: the same suffix twice gives a new one."""
    suffixes = iter(["aaaaaa", "aaaaaa", "bbbbbb"])
    first, _ = reserve.reserve(tmp_path / "a", "demo", START, suffix=lambda: next(suffixes))
    second, _ = reserve.reserve(tmp_path / "b", "demo", START, suffix=lambda: next(suffixes))
    assert first.endswith("-aaaaaa") and second.endswith("-bbbbbb")
    assert sorted(p.name for p in (state / "harness-projects").iterdir()) == sorted(
        reserve.project_name(r) for r in (first, second))


def _reserve_in_child(args) -> str:
    """Every child first tries the same suffix: one gets it, the others must draw again."""
    root, state = args
    import os
    os.environ["HARNESS_STATE_DIR"] = state
    draws = iter(["cccccc"])
    return reserve.reserve(Path(root), "same-scenario-name-that-is-long-enough-to-be-cut-by-compose",
                           START, suffix=lambda: next(draws, None) or os.urandom(3).hex())[0]


def test_processes_racing_for_one_name_get_distinct_ids(tmp_path, state):
    """Eight processes start in the same second with one scenario and runs folders of their own."""
    with multiprocessing.get_context("fork").Pool(8) as pool:
        ids = pool.map(_reserve_in_child, [(str(tmp_path / f"r{i}"), str(state)) for i in range(8)])
    assert len(set(ids)) == 8 and len({reserve.project_name(i) for i in ids}) == 8
    assert sum(1 for i in ids if i.endswith("-cccccc")) == 1


def _hold(args) -> tuple[float, float]:
    folder, state, seconds = args
    import os
    os.environ["HARNESS_STATE_DIR"] = state
    with reserve.building([Path(folder)]):
        t0 = time.monotonic()
        time.sleep(seconds)
        return t0, time.monotonic()


def test_one_folder_builds_one_run_at_a_time(tmp_path, state):
    folder = tmp_path / "app"
    folder.mkdir()
    with multiprocessing.get_context("fork").Pool(3) as pool:
        spans = sorted(pool.map(_hold, [(str(folder), str(state), 0.3)] * 3))
    for (_a0, a1), (b0, _b1) in zip(spans, spans[1:]):
        assert b0 >= a1, spans          # no two held the lock at once


def test_waiting_is_told_once_and_bounded(tmp_path):
    folder = tmp_path / "app"
    folder.mkdir()
    told = []
    with reserve.building([folder]):
        ctx = multiprocessing.get_context("fork")
        q = ctx.Queue()

        def child():
            try:
                with reserve.building([folder], on_wait=lambda m: q.put(("told", m)), timeout=0.5):
                    q.put(("got", ""))
            except Exception as e:  # noqa: BLE001 - reported to the parent
                q.put(("error", str(e)))
        p = ctx.Process(target=child)
        p.start()
        p.join(20)
        while not q.empty():
            told.append(q.get())
    assert [k for k, _m in told] == ["told", "error"], told
    assert "waiting for it" in told[0][1] and "held the build lock too long" in told[1][1]
