// The flame graph panel's pure parts (src/flamemodel.ts) and the viewer's pure functions: the viewer is
// harness/report/assets/flamegraph.js, the one file report.html inlines and the bundle copies to
// dist/flamegraph.js; it is loaded here from its source, as it is (CommonJS export when no window).
import assert from "node:assert/strict";
import * as path from "node:path";
import { test } from "node:test";
import { FLAME_VIEW_TYPE, flameHtml, graphsMessage, openTarget, panelTitle } from "../src/flamemodel";
import { statusMenuItems } from "../src/models";
import type { FlameNode, FlameTree, StatusParams } from "../src/protocol";

const VIEWER = path.resolve(__dirname, "..", "..", "..", "harness", "report", "assets", "flamegraph.js");

interface Model { nodes: FlameNode[]; total: number; maxDelta: number; diff: boolean }
interface Viewer {
  formatValue(v: number, unit: string): string;
  percent(f: number): string;
  points(d: number): string;
  matcher(term: string): { match: ((name: string) => boolean) | null; error?: string };
  index(tree: FlameTree): Model;
  searchSum(m: Model, match: (name: string) => boolean): { hits: Set<number>; value: number; share: number };
  change(m: Model, i: number): { before: number; after: number; delta: number };
  colour(m: Model, i: number): string;
  decode(data: unknown): { dims: Record<string, string>; title: string; tree: FlameTree }[];
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fg: Viewer = require(VIEWER);

const status: StatusParams = {
  run: "demo-20261122T113000Z", runPath: "/ws/runs/demo", profile: "cpu", sampleType: "cpu", phase: "fault",
  compare: null, enabled: true, message: null,
};

const leaf = (n: string, v: number, o = 0, extra: Partial<FlameNode> = {}): FlameNode => ({ n, f: `/src/${n}.go`, l: 10, o, s: v, v, ...extra });

/** root 100 = main.a 60 (main.a -> main.a 20 recursion, crc 30) + runtime.gc 40; base: main.a 10 of 100. */
function tree(diff: boolean): FlameTree {
  const inner = leaf("main.a", 20, 1, diff ? { bs: 5, bv: 5 } : {});
  const crc = leaf("hash/crc64.update", 30, 0, diff ? { bs: 5, bv: 5 } : {});
  const a: FlameNode = { n: "main.a", f: "/src/main.go", l: 12, o: 1, s: 10, v: 60, c: [crc, inner], ...(diff ? { bs: 0, bv: 10 } : {}) };
  const gc = leaf("runtime.gc", 40, 0, diff ? { bs: 90, bv: 90 } : {});
  const root: FlameNode = { n: "root", f: "", l: 0, o: 0, s: 0, v: 100, c: [a, gc], ...(diff ? { bs: 0, bv: 100 } : {}) };
  return { version: 1, sample_type: "cpu", unit: "nanoseconds", sample_types: [["cpu", "nanoseconds"]], total: 100, base_total: diff ? 100 : null, root };
}

test("the viewer's numbers read in the report's human units", () => {
  assert.equal(fg.formatValue(2_429_960_639_539, "nanoseconds"), "40.5 min");
  assert.equal(fg.formatValue(250_000, "nanoseconds"), "250 µs");
  assert.equal(fg.formatValue(146_800_640, "bytes"), "140 MiB");
  assert.equal(fg.formatValue(3 << 10, "bytes"), "3 KiB");
  assert.equal(fg.formatValue(1_234_567, "count"), "1,234,567");
  assert.equal(fg.percent(0.945), "94.5%");
  assert.equal(fg.percent(0.00001), "<0.01%");
  assert.equal(fg.points(0.262), "+26.2 pts");
  assert.equal(fg.points(-0.5), "-50 pts");
});

test("search: text or /regex/, each matching subtree counted once", () => {
  const m = fg.index(tree(false));
  const text = fg.matcher("MAIN.A");
  const sum = fg.searchSum(m, text.match!);
  assert.equal(sum.hits.size, 2);                 // main.a and the recursive main.a under it
  assert.equal(sum.value, 60);                    // not 60 + 20
  assert.equal(sum.share, 0.6);
  const re = fg.matcher("/^(runtime|hash)/");
  assert.equal(fg.searchSum(m, re.match!).value, 70);
  assert.match(fg.matcher("/(/").error ?? "", /./);
  assert.equal(fg.matcher("  ").match, null);
});

test("differential colours: grew red, shrank blue, unchanged grey", () => {
  const m = fg.index(tree(true));
  const idx = (name: string, v: number) => m.nodes.findIndex((n) => n.n === name && n.v === v);
  const a = idx("main.a", 60);
  const gc = idx("runtime.gc", 40);
  assert.deepEqual(fg.change(m, a), { before: 0.1, after: 0.6, delta: 0.5 });
  assert.equal(m.maxDelta, 0.5);
  const rgb = (css: string) => css.match(/\d+/g)!.map(Number);
  const [r1, , b1] = rgb(fg.colour(m, a));
  assert.ok(r1 > 200 && b1 < 60, fg.colour(m, a));
  const [r2, , b2] = rgb(fg.colour(m, gc));
  assert.ok(b2 > r2 + 100, fg.colour(m, gc));
  assert.equal(fg.colour(m, 0), "rgb(226,226,226)");
  const plain = fg.index(tree(false));
  assert.match(fg.colour(plain, idx("main.a", 60)), /^hsl\((\d|[1-4]\d),88%/);   // own code: warm
  assert.match(fg.colour(plain, idx("runtime.gc", 40)), /^hsl\(215,/);           // the rest: grey
});

test("the report's compact data decodes to the tree", () => {
  const graphs = fg.decode({
    strings: ["root", "", "main.a", "/src/main.go"],
    graphs: [{ dims: { phase: "fault" }, title: "t", tree: { unit: "nanoseconds", total: 30, base_total: 20 }, diff: true, scale: 10, bscale: 5,
      nodes: [0, 1, 0, 0, 0, 0, 3, 0, 4, 1, 2, 3, 7, 1, 0, 3, 3, 4, 4, 0] }],
  });
  assert.deepEqual(graphs[0].tree.root, {
    n: "root", f: "", l: 0, o: 0, s: 0, v: 30, bs: 0, bv: 20,
    c: [{ n: "main.a", f: "/src/main.go", l: 7, o: 1, s: 30, v: 30, bs: 20, bv: 20 }],
  });
});

test("the panel's page loads the viewer from the extension only", () => {
  const html = flameHtml({ cspSource: "vscode-webview://x", scriptUri: "vscode-webview://x/dist/flamegraph.js", title: "Flame <cpu>" });
  assert.match(html, /Content-Security-Policy" content="default-src 'none'; script-src vscode-webview:\/\/x;/);
  assert.match(html, /<script src="vscode-webview:\/\/x\/dist\/flamegraph.js"><\/script>/);
  assert.equal((html.match(/<script/g) ?? []).length, 1, "no inline script");
  assert.match(html, /<body data-flame-webview>/);
  assert.match(html, /<title>Flame &#60;cpu&#62;<\/title>/);
  assert.equal(FLAME_VIEW_TYPE, "harness.flameGraph");
});

test("the panel's title follows the status bar", () => {
  assert.equal(panelTitle(status), "Flame · cpu:cpu · fault");
  assert.equal(panelTitle({ ...status, compare: { baseline: "baseline" } }), "Flame · cpu:cpu · Δ phase baseline");
  assert.equal(panelTitle(null), "Flame Graph");
});

test("a click opens an absolute path at its line; anything else is refused with a reason", () => {
  assert.deepEqual(openTarget({ type: "open", path: "/ws/main.go", line: 31, function: "main.digest" }), { path: "/ws/main.go", line: 31 });
  assert.deepEqual(openTarget({ type: "open", path: "/ws/main.go", line: 0 }), { path: "/ws/main.go", line: 1 });
  const unmapped = openTarget({ type: "open", path: null, file: "/src/main.go", function: "main.digest" });
  assert.ok("error" in unmapped && /main\.digest: \/src\/main\.go is not a file on this machine.*pathMappings/.test(unmapped.error));
  assert.ok("error" in openTarget({ type: "open", path: "main.go" }));
  assert.ok("error" in openTarget({ type: "ready" }));
  assert.ok("error" in openTarget(null));
});

test("the graphs message carries the server's answer or its error", () => {
  assert.deepEqual(graphsMessage({ error: "no run" }), { type: "graphs", graphs: [], message: "No flame graph: no run" });
  const t = tree(false);
  assert.deepEqual(graphsMessage({ graphs: [{ dims: {}, title: "x", tree: t }], message: "cpu of run r" }).graphs[0].tree, t);
});

test("the status menu offers the flame graph", () => {
  assert.ok(statusMenuItems(status, "running").some((i) => i.value === "showFlameGraph"));
});
