"""The report's flame graphs on a real run, in headless Chromium (tests/browser.py, the DevTools
protocol over a pipe): the incident shape "cpu" (tests/e2e/incidents) computes pages in
main.compute only while the backend refuses, so the differential graph of the incident against
the baseline must colour main.compute as grown; a click zooms a frame to the full width; search
highlights the hot function and shows its share. The time to render and to answer the click is
printed (docs/report.md "Flame graphs"), never asserted."""
from __future__ import annotations

import json
import re
import shutil
import time

import pytest

from harness.report import flame_view
from harness.report.rundata import load_run
from rundir.pprof.flame import walk
from tests.e2e.incidents.shapes import SHAPES
from tests.e2e.test_verdict import run_shape
from tests.env.conftest import REPO

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ARTEFACTS = REPO / "test-artifacts" / "report"
HOT = "main.compute"
VIEWER = "document.querySelector('.flame').harnessFlame"
FRAME = """(name => { const v = document.querySelector('.flame').harnessFlame; const f = v.find(name);
  if (!f) return null; const el = v.frames.querySelector('[data-i="' + f.index + '"]'); const r = el.getBoundingClientRect();
  const c = HarnessFlame.change(v.model, f.index);
  return {x: r.left, y: r.top, w: r.width, h: r.height, full: v.frames.clientWidth, index: f.index, zoom: v.zoom,
          bg: getComputedStyle(el).backgroundColor, hit: el.classList.contains('hf-hit'), delta: c.delta,
          before: c.before, after: c.after}; })"""


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    if shutil.which("chromium") is None:
        pytest.skip("chromium is installed by scripts/test.sh")
    run_dir, _summary = run_shape(tmp_path_factory.mktemp("flame"), SHAPES["cpu"])
    return run_dir


def frame(b, name: str) -> dict:
    found = b.eval(f"{FRAME}({json.dumps(name)})")
    assert found, f"no drawn frame {name}"
    return found


def hot_share(run_dir) -> float:
    """main.compute's share of the incident phase's CPU, each main.compute subtree counted once."""
    graphs = flame_view.run_graphs(load_run(run_dir))
    tree = next(g["tree"] for g in graphs if g["dims"] == {"service": "app", "profile": "cpu", "phase": "incident",
                                                            "compare": flame_view.THIS_PHASE, "sample": "cpu"})
    value, todo = 0, [tree["root"]]
    while todo:
        node = todo.pop()
        if node["n"] == HOT:
            value += node["v"]
        else:
            todo.extend(node.get("c", ()))
    assert value > 0, [n["n"] for _p, n in walk(tree)]
    return value / tree["total"]


def test_diff_zoom_and_search_on_a_real_run(run):
    from tests.browser import Browser
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with Browser(width=1200, height=900) as b:
        t0 = time.monotonic()
        b.goto((run / "report.html").as_uri(), "!!document.querySelector('.flame .hf-f')")
        first_frame_s = time.monotonic() - t0
        render_ms = float(b.eval("document.querySelector('.flame').getAttribute('data-render-ms')"))
        b.eval("document.getElementById('flame-graphs').scrollIntoView()")
        # the page opens on the incident's CPU against the baseline: main.compute grew
        title = b.eval("document.querySelector('.flame .hf-title').textContent")
        assert title == "cpu \u00b7 app \u00b7 incident against baseline (differential) \u00b7 cpu", title
        grew = frame(b, HOT)
        r, g, bl = (int(x) for x in re.findall(r"\d+", grew["bg"])[:3])
        assert grew["delta"] > 0.05 and r > bl + 60 and r > g + 40, grew
        b.screenshot(ARTEFACTS / "flame-diff.png")

        # a real click zooms main.compute to the full width
        b.eval("document.addEventListener('mousedown', () => { window.clickAt = performance.now(); }, true)")
        b.click(grew["x"] + min(grew["w"] / 2, 40), grew["y"] + grew["h"] / 2)
        zoomed = frame(b, HOT)
        click_ms = b.eval(f"{VIEWER}.renderedAt - window.clickAt")
        painted_ms = b.eval("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => "
                            "r(performance.now() - window.clickAt))))")
        assert zoomed["zoom"] == grew["index"] and abs(zoomed["w"] - zoomed["full"]) < 1, zoomed

        # search in the incident's own graph: main.compute highlighted, its share shown
        b.eval("(() => { const s = document.querySelector('.flame select[data-dim=compare]'); "
               f"s.value = {json.dumps(flame_view.THIS_PHASE)}; s.dispatchEvent(new Event('change')); }})()")
        b.eval("document.querySelector('.flame input[type=search]').focus()")
        b.type(HOT)
        status = b.eval("document.querySelector('.flame .hf-status').textContent")
        share = float(b.eval("document.querySelector('.flame .hf-status').getAttribute('data-share')"))
        assert share == pytest.approx(hot_share(run), abs=1e-9) and share > 0.05, (status, share)
        assert re.search(r"search: \d+ frames? match, .* = [\d.]+% of the total", status), status
        assert frame(b, HOT)["hit"]
        b.screenshot(ARTEFACTS / "flame-search.png")
    print(f"flame graph: first frame drawn {first_frame_s * 1000:.0f} ms after navigation; in the page: parse, "
          f"decode and draw {render_ms:.1f} ms; click -> zoomed frame drawn {click_ms:.1f} ms, painted "
          f"{painted_ms:.1f} ms (goal: under 1 s); main.compute {share:.1%} of the incident's CPU")
