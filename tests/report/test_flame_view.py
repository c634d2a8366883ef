"""The report's flame graphs (harness/report/flame_view.py) on synthetic run directories: which
graphs, the differential trees, the size bound, the compact encoding (decoded by the viewer in
headless Chromium), and a self-contained page."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from harness.report import flame_view
from harness.report.rundata import load_run
from harness.report.writer import write_all
from rundir.pprof.flame import walk

from .synth import SRC, add_profile, make_run

HEAP_TYPES = (("alloc_objects", "count"), ("alloc_space", "bytes"), ("inuse_objects", "count"),
              ("inuse_space", "bytes"))


@pytest.fixture
def run(tmp_path):
    path = make_run(tmp_path)
    for phase, big in (("baseline", 1 << 20), ("fault", 64 << 20)):
        add_profile(path, "heap", phase, {(f"{SRC}/cache.go", 12, "main.fill"): big,
                                          ("/go/src/bytes/buffer.go", 90, "bytes.growSlice"): 1 << 20},
                    HEAP_TYPES, window="snapshot")
    return path


def _find(graphs, **dims):
    found = [g for g in graphs if all(g["dims"].get(k) == v for k, v in dims.items())]
    assert len(found) == 1, (dims, [g["dims"] for g in graphs])
    return found[0]


def _node(tree, name):
    return next(node for _path, node in walk(tree) if node["n"] == name)


def test_one_graph_per_service_kind_phase_and_sample_type_and_a_diff_per_later_phase(run):
    graphs = flame_view.run_graphs(load_run(run))
    dims = {tuple(g["dims"][k] for k in ("service", "profile", "phase", "compare", "sample")) for g in graphs}
    plain, diff = flame_view.THIS_PHASE, "\u0394 against baseline"
    expected = {("api", "cpu", p, c, t) for p, c in (("baseline", plain), ("fault", plain), ("fault", diff))
                for t in ("samples", "cpu")}
    expected |= {("api", "heap", p, c, t) for p, c in (("baseline", plain), ("fault", plain), ("fault", diff))
                 for t, _u in HEAP_TYPES}
    assert dims == expected and len(graphs) == len(expected)
    # the page opens on the fault phase's CPU graph against the baseline, in the default sample type
    assert graphs[0]["dims"] == {"service": "api", "profile": "cpu", "phase": "fault", "compare": diff,
                                 "sample": "cpu"}
    # heap: the profile's default (last) type comes first among its sample types
    heap = [g["dims"]["sample"] for g in graphs if g["dims"]["profile"] == "heap" and g["dims"]["phase"] == "baseline"]
    assert heap[0] == "inuse_space"


def test_the_differential_tree_carries_both_sides(run):
    graphs = flame_view.run_graphs(load_run(run))
    tree = _find(graphs, profile="cpu", phase="fault", compare="\u0394 against baseline", sample="cpu")["tree"]
    assert (tree["total"], tree["base_total"]) == (1_300_000_000, 1_000_000_000)
    alloc = _node(tree, "main.alloc")
    assert (alloc["v"], alloc["bv"], alloc["o"]) == (600_000_000, 200_000_000, 1)
    gc = _node(tree, "runtime.gcBgMarkWorker")
    assert (gc["v"], gc["bv"], gc["o"]) == (300_000_000, 0, 0)    # only the fault phase has it: grew
    plain = _find(graphs, profile="cpu", phase="baseline", sample="cpu")["tree"]
    assert plain["base_total"] is None and "bv" not in _node(plain, "main.burn")


def test_the_trees_are_bounded_per_tree_and_in_total(run, monkeypatch):
    assert flame_view.per_tree_bound(1) == flame_view.REPORT_MAX_NODES
    assert flame_view.per_tree_bound(100) == flame_view.REPORT_NODE_BUDGET // 100
    assert flame_view.per_tree_bound(10**6) == 2
    monkeypatch.setattr(flame_view, "REPORT_NODE_BUDGET", 40)
    graphs = flame_view.run_graphs(load_run(run))
    per_tree = flame_view.per_tree_bound(len(graphs))
    sizes = [sum(1 for _ in walk(g["tree"])) for g in graphs]
    assert per_tree == 40 // 18 and max(sizes) <= per_tree and sum(sizes) <= 40
    merged = [node for g in graphs for _p, node in walk(g["tree"]) if node.get("m")]
    assert merged, "small frames are merged into \"other\" frames"
    for g in graphs:    # an "other" frame keeps the totals exact
        root = g["tree"]["root"]
        assert root["v"] == g["tree"]["total"] == root["s"] + sum(c["v"] for c in root.get("c", ()))


def test_the_compact_encoding_divides_by_the_common_divisor(run):
    graphs = flame_view.run_graphs(load_run(run))
    data = flame_view.encode(graphs)
    cpu = data["graphs"][0]
    assert cpu["scale"] == 100_000_000     # every CPU value here is a multiple of 100 ms
    values = [v for i in range(0, len(cpu["nodes"]), 10) for v in cpu["nodes"][i + 5:i + 9]]
    assert max(values) == 13 and len(cpu["nodes"]) == 10 * sum(1 for _ in walk(graphs[0]["tree"]))


def test_script_data_cannot_close_its_element():
    text = flame_view.json_for_script({"n": "</script><script>alert(1)</script><!--"})
    assert "<" not in text and json.loads(text)["n"].startswith("</script>")


def test_the_report_is_self_contained_and_the_viewer_decodes_the_trees_exactly(run):
    write_all(run)
    page = (run / "report.html").read_text()
    assert "<h2 id='flame-graphs'>Flame graphs</h2>" in page and "data-flame-source='flame-data'" in page
    assert flame_view.viewer_js() in page
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|https?://[^\s\"'<]*\.js", page)
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is installed by scripts/test.sh")
    from tests.browser import Browser
    graphs = flame_view.run_graphs(load_run(run))
    with Browser() as b:
        b.goto((run / "report.html").as_uri(), "!!document.querySelector('.flame .hf-f')")
        decoded = b.eval("JSON.stringify(HarnessFlame.decode(JSON.parse(document.getElementById('flame-data')"
                         ".textContent)))")
    assert json.loads(decoded) == json.loads(json.dumps(graphs))


# -- the viewer in headless Chromium (tests/browser.py), on the synthetic run's report -------------

FRAME = """(name => { const v = document.querySelector('.flame').harnessFlame; const f = v.find(name);
  if (!f) return null; const el = v.frames.querySelector('[data-i="' + f.index + '"]');
  const r = el.getBoundingClientRect();
  return {x: r.left, y: r.top, w: r.width, h: r.height, full: v.frames.clientWidth, bg: getComputedStyle(el).backgroundColor,
          hit: el.classList.contains('hf-hit'), zoom: v.zoom, index: f.index}; })"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    if shutil.which("chromium") is None:
        pytest.skip("chromium is installed by scripts/test.sh")
    from tests.browser import Browser
    path = make_run(tmp_path_factory.mktemp("flame"))
    write_all(path)
    with Browser(width=1200, height=900) as b:
        b.goto((path / "report.html").as_uri(), "!!document.querySelector('.flame .hf-f')")
        b.eval("document.getElementById('flame-graphs').scrollIntoView()")
        yield b


def frame(b, name: str) -> dict:
    return b.eval(f"{FRAME}({json.dumps(name)})")


def rgb(css: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", css)[:3])


def select(b, dim: str, value: str) -> None:
    b.eval(f"(() => {{ const s = document.querySelector('.flame select[data-dim={dim}]'); s.value = {json.dumps(value)};"
           " s.dispatchEvent(new Event('change')); })()")


def test_the_diff_colours_grown_red_and_shrunk_blue_and_the_tooltip_has_both_sides(page):
    b = page
    assert "against baseline (differential)" in b.eval("document.querySelector('.flame .hf-title').textContent")
    grew, shrank = frame(b, "main.alloc"), frame(b, "main.burn")
    r, g, bl = rgb(grew["bg"])
    assert r > bl + 80 and r > g + 80, grew          # 20% -> 46.2% of the CPU
    r, g, bl = rgb(shrank["bg"])
    assert bl > r + 80, shrank                       # 80% -> 30.8%
    b.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": grew["x"] + 5, "y": grew["y"] + 5})
    tip = b.wait("(() => { const t = document.querySelector('.flame .hf-tip'); return t.hidden ? '' : t.innerText; })()")
    for text in ("main.alloc", "main.go:55", "own code", "total 600 ms (46.2% of all)", "base: total 200 ms (20%)",
                 "change of share +26.2 pts"):
        assert text in tip, tip
    legend = b.eval("document.querySelector('.flame .hf-legend').textContent")
    assert "shrank" in legend and "grew" in legend and "total 1.3 s" in legend


def test_a_click_zooms_the_frame_to_the_full_width_and_reset_returns(page):
    b = page
    f = frame(b, "main.burn")
    assert f["w"] < f["full"] - 50
    b.click(f["x"] + f["w"] / 2, f["y"] + f["h"] / 2)
    after = frame(b, "main.burn")
    assert abs(after["w"] - after["full"]) < 1 and after["zoom"] == f["index"]
    assert b.eval("document.querySelector('.flame .hf-crumbs').textContent").endswith("main.burn")
    b.eval("document.querySelector('.flame .hf-crumbs button').click()")     # "all"
    assert frame(b, "main.burn")["zoom"] == 0


def test_search_highlights_matches_and_sums_their_share(page):
    b = page
    box = "document.querySelector('.flame input[type=search]')"
    status = "document.querySelector('.flame .hf-status')"
    b.eval(f"{box}.focus()")
    b.type("/main\\.(burn|alloc)/")
    assert b.eval(f"{status}.textContent") == "search: 2 frames match, 1 s = 76.9% of the total"
    assert frame(b, "main.burn")["hit"] and not frame(b, "runtime.gcBgMarkWorker")["hit"]
    # a matching frame's matching callees are not counted twice: goexit holds all of them
    b.eval(f"{box}.value = 'o'; {box}.dispatchEvent(new Event('input'))")
    assert b.eval(f"{status}.getAttribute('data-share')") == "1"
    b.eval(f"{box}.value = '/(/'; {box}.dispatchEvent(new Event('input'))")
    assert b.eval(f"{box}.getAttribute('aria-invalid')") == "true"
    assert "not a regular expression" in b.eval(f"{status}.textContent")
    b.eval(f"{box}.value = ''; {box}.dispatchEvent(new Event('input'))")
    assert b.eval(f"{status}.textContent") == ""


def test_keyboard_orientation_sample_types_and_print(page):
    b = page
    select(b, "compare", flame_view.THIS_PHASE)
    select(b, "phase", "baseline")
    assert b.eval("document.querySelector('.flame .hf-title').textContent") == "cpu \u00b7 api \u00b7 baseline \u00b7 cpu"
    # keyboard: the root frame is the tab stop; down goes to the callee (icicle), Enter zooms, Escape resets
    b.eval("document.querySelector('.flame .hf-f[tabindex=\"0\"]').focus()")
    for _ in range(2):
        b.key("ArrowDown")
    focused = b.eval("document.activeElement.textContent")
    assert focused == "main.burn", focused
    assert "main.burn, total 800 ms, 80%" == b.eval("document.activeElement.getAttribute('aria-label')")
    b.key("Enter")
    assert frame(b, "main.burn")["zoom"] == frame(b, "main.burn")["index"]
    b.key("Escape")
    assert frame(b, "main.burn")["zoom"] == 0
    # icicle: the root on top; flame: the root at the bottom
    root_top = "document.querySelector('.flame .hf-f[data-i=\"0\"]').offsetTop"
    assert b.eval(root_top) == 0
    b.eval("document.querySelector('.flame button[aria-pressed]').click()")
    assert b.eval(root_top) == 2 * 18 and b.eval("document.querySelector('.flame button[aria-pressed]')"
                                                  ".getAttribute('aria-pressed')") == "true"
    select(b, "sample", "samples")
    assert "samples total 100" in b.eval("document.querySelector('.flame .hf-legend').textContent")
    b.send("Emulation.setEmulatedMedia", {"media": "print"})
    try:
        assert b.eval("getComputedStyle(document.querySelector('.flame input[type=search]')).display") == "none"
        assert b.eval("getComputedStyle(document.querySelector('.flame .hf-f')).printColorAdjust") == "exact"
    finally:
        b.send("Emulation.setEmulatedMedia", {"media": ""})


def test_an_empty_profile_and_no_graphs_say_so(page):
    b = page
    text = b.eval("""(() => { const host = document.createElement('div'); document.body.append(host);
      const tree = {version: 1, sample_type: 'cpu', unit: 'nanoseconds', sample_types: [['cpu', 'nanoseconds']], total: 0,
                    base_total: null, root: {n: 'root', f: '', l: 0, o: 0, s: 0, v: 0}};
      const v = HarnessFlame.mount(host, {graphs: [{dims: {}, title: 'idle', tree}]});
      const first = v.frames.textContent;
      v.update([]);
      const out = [first, v.title.textContent, v.frames.textContent]; host.remove(); return out; })()""")
    assert text == ["no cpu in this profile", "No flame graph data.", ""]


def test_one_tree_as_a_page_of_its_own(run, tmp_path):
    graph = flame_view.run_graphs(load_run(run))[0]
    page_file = tmp_path / "one.html"
    page_file.write_text(flame_view.standalone_page(graph["tree"], "cpu <fault>"))
    text = page_file.read_text()
    assert "<title>cpu &lt;fault&gt;</title>" in text and flame_view.viewer_js() in text
    if shutil.which("chromium") is None:
        pytest.skip("chromium is installed by scripts/test.sh")
    from tests.browser import Browser
    with Browser() as b:
        b.goto(page_file.as_uri(), "!!document.querySelector('.flame .hf-f')")
        assert b.eval("document.querySelector('.flame .hf-title').textContent") == "cpu <fault>"
        assert b.eval("document.querySelectorAll('.flame select').length") == 0
