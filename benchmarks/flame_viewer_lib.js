// The flame-graph viewer decision, measured: harness/report/assets/flamegraph.js (hand-written,
// no dependencies) against d3-flame-graph 5.0 (with the d3 modules it imports, tree-shaken and
// minified by esbuild), on a synthetic 5,000-frame tree in headless Chromium:
//   - bytes each adds to a self-contained report.html (minified; gzip for reference);
//   - time to render the tree, and to answer a click (zoom), median of 7 after a warm-up.
// Setup (a scratch folder; nothing of this is a project dependency):
//   mkdir /tmp/flamelib && cd /tmp/flamelib && npm init -y &&
//   npm install --ignore-scripts d3-flame-graph@5 puppeteer-core@24.43.1 esbuild@0.28.2
//   node <repo>/benchmarks/flame_viewer_lib.js /tmp/flamelib [frames]
// Prints a table and one JSON line. No timed assertion: the numbers are for docs/report.md.
"use strict";
const fs = require("node:fs");
const path = require("node:path");
const zlib = require("node:zlib");
const { execFileSync } = require("node:child_process");

const LIB = path.resolve(process.argv[2] || "/tmp/flamelib");
const FRAMES = Number(process.argv[3] || 5000);
const REPO = path.resolve(__dirname, "..");
const VIEWER = path.join(REPO, "harness", "report", "assets", "flamegraph.js");
const req = (m) => require(path.join(LIB, "node_modules", m));

/** A deterministic tree of `n` frames (Go-like names, nanosecond values, depth up to ~40). */
function syntheticTree(n) {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const pkgs = ["main", "net/http", "runtime", "encoding/json", "sync", "example.com/shop/cart", "hash/crc64"];
  const mk = (i) => ({ n: `${pkgs[i % pkgs.length]}.fn${i}`, f: `/src/${pkgs[i % pkgs.length]}/f${i % 50}.go`, l: 10 + (i % 300), o: i % 3 === 0 ? 1 : 0, s: 0, v: 0, c: [] });
  const nodes = [{ n: "root", f: "", l: 0, o: 0, s: 0, v: 0, c: [] }];
  const depth = [0];
  for (let i = 1; i < n; i++) {
    let p = Math.floor(Math.pow(rnd(), 0.6) * nodes.length);
    while (depth[p] > 40) p = Math.floor(rnd() * nodes.length);
    const node = mk(i);
    nodes[p].c.push(node);
    nodes.push(node);
    depth.push(depth[p] + 1);
  }
  const fill = (node) => {
    node.s = node.c.length ? Math.floor(rnd() * 3) * 1e7 : (1 + Math.floor(rnd() * 20)) * 1e7;
    node.v = node.s + node.c.reduce((a, c) => a + fill(c), 0);
    node.c.sort((a, b) => b.v - a.v);
    if (!node.c.length) delete node.c;
    return node.v;
  };
  fill(nodes[0]);
  return { version: 1, sample_type: "cpu", unit: "nanoseconds", sample_types: [["samples", "count"], ["cpu", "nanoseconds"]], total: nodes[0].v, base_total: null, root: nodes[0] };
}

function d3Bundle() {
  const entry = path.join(LIB, "entry-d3fg.js");
  fs.writeFileSync(entry, 'import flamegraph from "d3-flame-graph";\nimport { select } from "d3-selection";\nwindow.flamegraph = flamegraph; window.d3select = select;\n');
  const out = path.join(LIB, "d3fg.min.js");
  execFileSync(path.join(LIB, "node_modules", ".bin", "esbuild"), [entry, "--bundle", "--minify", "--format=iife", `--outfile=${out}`], { cwd: LIB });
  const css = fs.readFileSync(path.join(LIB, "node_modules", "d3-flame-graph", "dist", "d3-flamegraph.css"), "utf8");
  return { js: fs.readFileSync(out, "utf8"), css };
}

function ownBundle() {
  const out = path.join(LIB, "flamegraph.min.js");
  execFileSync(path.join(LIB, "node_modules", ".bin", "esbuild"), [VIEWER, "--minify", `--outfile=${out}`], { cwd: LIB });
  return { js: fs.readFileSync(out, "utf8"), css: "" };
}

const sizes = (b) => ({ min: Buffer.byteLength(b.js + b.css), gzip: zlib.gzipSync(b.js + b.css, { level: 9 }).length });

const PAGE_OWN = (js, data) => `<!doctype html><html><head><meta charset="utf-8"></head><body style="width:1100px">
<div id="g"></div><script>${js}</script><script>
window.tree = ${data};
window.bench = () => {
  const t0 = performance.now();
  const v = HarnessFlame.mount(document.getElementById("g"), { graphs: [{ dims: {}, title: "t", tree: window.tree }] });
  document.body.offsetHeight;
  const t1 = performance.now();
  const f = v.frames.querySelector('[data-i="' + v.model.kids[0][0] + '"]');
  f.click(); document.body.offsetHeight;
  const t2 = performance.now();
  return { render: t1 - t0, click: t2 - t1, frames: v.frames.childElementCount };
};</script></body></html>`;

const PAGE_D3 = (bundle, data) => `<!doctype html><html><head><meta charset="utf-8"><style>${bundle.css}</style></head><body style="width:1100px">
<div id="g"></div><script>${bundle.js}</script><script>
window.tree = ${data};
window.bench = () => {
  const t0 = performance.now();
  const chart = flamegraph().width(1100).transitionDuration(0).minFrameSize(1).inverted(true);
  d3select("#g").datum(window.tree.root).call(chart);
  document.body.offsetHeight;
  const t1 = performance.now();
  const g = document.querySelectorAll("#g svg g")[1];
  g.dispatchEvent(new MouseEvent("click", { bubbles: true })); document.body.offsetHeight;
  const t2 = performance.now();
  return { render: t1 - t0, click: t2 - t1, frames: document.querySelectorAll("#g svg g").length };
};</script></body></html>`;

async function timePage(browser, html) {
  const file = path.join(LIB, `bench-${Math.random().toString(36).slice(2)}.html`);
  fs.writeFileSync(file, html);
  const runs = [];
  for (let k = 0; k < 8; k++) {
    const page = await browser.newPage();
    await page.setViewport({ width: 1200, height: 900 });
    await page.goto("file://" + file);
    runs.push(await page.evaluate(() => window.bench()));
    await page.close();
  }
  fs.rmSync(file);
  const med = (k) => runs.slice(1).map((r) => r[k]).sort((a, b) => a - b)[3];
  return { render_ms: +med("render").toFixed(1), click_ms: +med("click").toFixed(1), frames_drawn: runs[0].frames };
}

async function main() {
  const puppeteer = req("puppeteer-core");
  const tree = syntheticTree(FRAMES);
  const data = JSON.stringify(tree);
  const own = ownBundle();
  const d3 = d3Bundle();
  const browser = await puppeteer.launch({ executablePath: process.env.CHROMIUM || "/usr/bin/chromium", headless: true, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const result = {
      frames: FRAMES,
      own: { ...sizes(own), ...(await timePage(browser, PAGE_OWN(own.js, data))) },
      d3: { ...sizes(d3), ...(await timePage(browser, PAGE_D3(d3, data))) },
    };
    console.log(`viewer                     minified B  gzip B  render ms  click ms  frames drawn (${FRAMES}-frame tree)`);
    for (const [name, r] of [["flamegraph.js (ours)", result.own], ["d3-flame-graph 5 + d3", result.d3]]) {
      console.log(`${name.padEnd(26)} ${String(r.min).padStart(10)} ${String(r.gzip).padStart(7)} ${String(r.render_ms).padStart(10)} ${String(r.click_ms).padStart(9)} ${String(r.frames_drawn).padStart(13)}`);
    }
    console.log(JSON.stringify(result));
  } finally {
    await browser.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
