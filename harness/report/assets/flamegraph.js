/* Harness flame graph viewer: one plain-JS file, no dependencies, no network.
 *
 * Used twice from this one source (docs/report.md "Flame graphs", docs/vscode.md):
 *   - inline in report.html (harness/report/flame_view.py), mounted on every element with
 *     data-flame-source="<id of a <script type=application/json>>" (compact data, see decode);
 *   - bundled into the VS Code extension (vscode-client `npm run bundle` minifies this file into
 *     dist/flamegraph.js) and loaded by the flame graph webview, which posts the trees to it.
 *
 * Input: graphs [{dims: {service, profile, phase, compare, sample}, title, tree}], each tree in the
 * flame-graph JSON format of rundir/pprof/flame.py: {version, sample_type, unit, sample_types, total,
 * base_total, root: {n, f, l, o, s, v, bs?, bv?, c?, m?, p?}} (n function, f file, l line, o own code,
 * s self, v total, bs/bv the diff base's self/total, c children by total, m frames merged into an
 * "other" frame, p the file on this machine, added by the language server).
 *
 * Features: hover/focus tooltip (function, file:line, self, total in human units, share); click or
 * Enter zooms (the frame spans the full width; breadcrumb and reset return); search (text or
 * /regex/) highlights matches and sums their share, each matching subtree once; selects for the
 * dimensions the graphs differ in (service, profile, phase, compare, sample type); own code in warm
 * colours, library and runtime grey; icicle/flame toggle; differential colours (width = the phase's
 * value, colour = change of share: grew red, shrank blue, with a legend); arrow keys move between
 * frames; @media print. Frames narrower than one pixel are not drawn (nor their children).
 */
(function (root) {
  "use strict";

  // ---- human units: the rules of harness/report/units.py --------------------------------------
  const MISSING = "\u2013";
  const TIME_UNITS = { nanoseconds: 1e-9, microseconds: 1e-6, milliseconds: 1e-3, seconds: 1 };
  const DURATIONS = [[1e-9, "ns"], [1e-6, "\u00b5s"], [1e-3, "ms"], [1, "s"]];
  const SIZES = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

  function isNum(v) {
    return typeof v === "number" && !Number.isNaN(v);
  }

  function fixed(v, digits) {
    return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  /** Three significant digits, trailing zeros dropped, thousands separated (units.sig3). */
  function sig3(v) {
    if (v === 0) return "0";
    if (!Number.isFinite(v)) return v > 0 ? "\u221e" : "-\u221e";
    let digits = Math.max(0, 2 - Math.floor(Math.log10(Math.abs(v))));
    let r = Number(v.toFixed(digits));
    if (r !== 0 && Math.floor(Math.log10(Math.abs(r))) > Math.floor(Math.log10(Math.abs(v)))) {
      digits = Math.max(0, digits - 1);
      r = Number(v.toFixed(digits));
    }
    let text = fixed(r, digits);
    if (text.includes(".")) text = text.replace(/0+$/, "").replace(/\.$/, "");
    return text === "-0" || text === "" ? "0" : text;
  }

  function durationS(f) {
    if (f === 0) return "0 s";
    const mag = Math.abs(f);
    if (mag >= 7200) return sig3(f / 3600) + " h";
    if (mag >= 60) return sig3(f / 60) + " min";
    let [scale, unit] = DURATIONS[0];
    for (const [s, name] of DURATIONS) if (mag >= s * 0.9995) [scale, unit] = [s, name];
    return sig3(f / scale) + " " + unit;
  }

  function size(f) {
    let i = 0;
    let mag = Math.abs(f);
    while (mag >= 1023.5 && i < SIZES.length - 1) {
      mag /= 1024;
      i += 1;
    }
    const sign = f < 0 ? "-" : "";
    return i === 0 ? `${sign}${Math.round(mag)} B` : `${sign}${sig3(mag)} ${SIZES[i]}`;
  }

  function count(f) {
    if (f === Math.trunc(f) || Math.abs(f) >= 100) return fixed(Math.round(f), 0);
    return sig3(f);
  }

  /** A profile value in the profile's unit: durations, KiB/MiB, counts (units.profile_value). */
  function formatValue(v, unit) {
    if (!isNum(v)) return MISSING;
    const u = String(unit || "").toLowerCase();
    if (u in TIME_UNITS) return durationS(v * TIME_UNITS[u]);
    if (u === "bytes") return size(v);
    if (u === "count" || u === "" || u === "samples") return count(v);
    return `${count(v)} ${u}`;
  }

  function percent(fraction) {
    if (!isNum(fraction)) return MISSING;
    const p = fraction * 100;
    if (p !== 0 && Math.abs(p) < 0.01) return p > 0 ? "<0.01%" : ">-0.01%";
    return sig3(p) + "%";
  }

  /** A change of share in percentage points, signed: "+26.2 pts" (units.points). */
  function points(delta) {
    if (!isNum(delta)) return MISSING;
    return (delta >= 0 ? "+" : "") + sig3(Math.round(delta * 1000) / 10) + " pts";
  }

  // ---- data -----------------------------------------------------------------------------------

  /** Graphs from the report's compact form: {strings, graphs: [{dims, title, tree (without root),
   *  scale, bscale, diff, nodes}]}; nodes is a pre-order list of
   *  [name, file, line, own, merged, self, total, (base self, base total,) child count] per frame,
   *  names and files as indices into strings, values divided by scale (bscale for the base). */
  function decode(data) {
    const strings = data.strings || [];
    return (data.graphs || []).map((g) => {
      const width = g.diff ? 10 : 8;
      const flat = g.nodes;
      const scale = g.scale || 1;
      const bscale = g.bscale || 1;
      let pos = 0;
      const read = () => {
        const a = flat.slice(pos, pos + width);
        pos += width;
        const node = { n: strings[a[0]], f: strings[a[1]], l: a[2], o: a[3], s: a[5] * scale, v: a[6] * scale };
        if (a[4]) node.m = a[4];
        if (g.diff) {
          node.bs = a[7] * bscale;
          node.bv = a[8] * bscale;
        }
        return [node, a[width - 1]];
      };
      const [rootNode, rootKids] = read();
      const stack = [[rootNode, rootKids]];
      while (stack.length) {
        const top = stack[stack.length - 1];
        if (top[1] === 0) {
          stack.pop();
          continue;
        }
        top[1] -= 1;
        const [child, kids] = read();
        (top[0].c || (top[0].c = [])).push(child);
        stack.push([child, kids]);
      }
      return { dims: g.dims || {}, title: g.title || "", tree: Object.assign({}, g.tree, { root: rootNode }) };
    });
  }

  /** The flat model of a tree: frames in pre-order with parent, depth and start offset. */
  function index(tree) {
    const nodes = [];
    const parent = [];
    const depth = [];
    const start = [];
    const kids = [];
    const stack = [[tree.root, -1, 0, 0]];
    while (stack.length) {
      const [node, up, d, x] = stack.pop();
      const i = nodes.length;
      nodes.push(node);
      parent.push(up);
      depth.push(d);
      start.push(x);
      kids.push([]);
      if (up >= 0) kids[up].push(i);
      const c = node.c || [];
      const offsets = [];
      let at = x;
      for (const child of c) {
        offsets.push(at);
        at += child.v;
      }
      for (let k = c.length - 1; k >= 0; k--) stack.push([c[k], i, d + 1, offsets[k]]);
    }
    const diff = tree.base_total !== null && tree.base_total !== undefined;
    const model = { tree, nodes, parent, depth, start, kids, diff, maxDelta: 0 };
    model.total = tree.total || tree.root.v || 0;
    model.baseTotal = diff ? tree.base_total : 0;
    if (diff) {
      for (let i = 1; i < nodes.length; i++) model.maxDelta = Math.max(model.maxDelta, Math.abs(change(model, i).delta));
    }
    return model;
  }

  /** Shares of a frame's total in the phase and in the diff base, and their difference. */
  function change(model, i) {
    const node = model.nodes[i];
    const after = model.total ? node.v / model.total : 0;
    const before = model.baseTotal ? (node.bv || 0) / model.baseTotal : 0;
    return { before, after, delta: after - before };
  }

  /** A name matcher from the search box: "/re/flags" is a regular expression, anything else a
   *  case-insensitive substring. Returns {match} or {error}; an empty term matches nothing. */
  function matcher(term) {
    const t = String(term || "").trim();
    if (!t) return { match: null };
    const re = /^\/(.+)\/([a-z]*)$/.exec(t);
    if (re) {
      try {
        const rx = new RegExp(re[1], re[2].replace(/[gy]/g, ""));
        return { match: (name) => rx.test(name) };
      } catch (err) {
        return { match: null, error: String(err.message || err) };
      }
    }
    const low = t.toLowerCase();
    return { match: (name) => String(name).toLowerCase().includes(low) };
  }

  /** Frames whose name matches, and the summed value of the matching subtrees (a match inside a
   *  matching frame is not counted again), with its share of the root. */
  function searchSum(model, match) {
    const hits = new Set();
    let value = 0;
    let covered = -1;   // pre-order: the descendants of frame k are k+1 .. k+size
    let coverEnd = -1;
    for (let i = 0; i < model.nodes.length; i++) {
      if (!match || !match(model.nodes[i].n)) continue;
      hits.add(i);
      if (covered >= 0 && i <= coverEnd) continue;
      value += model.nodes[i].v;
      covered = i;
      coverEnd = lastDescendant(model, i);
    }
    return { hits, value, share: model.total ? value / model.total : 0 };
  }

  function lastDescendant(model, i) {
    let k = i;
    while (model.kids[k].length) k = model.kids[k][model.kids[k].length - 1];
    return k;
  }

  function hash(s) {
    let h = 2166136261;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    return (h >>> 0) / 4294967296;
  }

  function mix(a, b, t) {
    return "rgb(" + a.map((x, k) => Math.round(x + (b[k] - x) * t)).join(",") + ")";
  }

  const NEUTRAL = [226, 226, 226];
  const GREW = [215, 38, 25];
  const SHRANK = [33, 102, 172];
  const SMALLEST_SCALE = 0.05;   // colours saturate at the largest change, but never below 5 points
  const NO_CHANGE = 0.001;       // below 0.1 points a frame reads as unchanged

  /** The fill of a frame: by change of share in a diff, else own code warm and the rest grey. */
  function colour(model, i) {
    const node = model.nodes[i];
    if (node.m) return "";
    if (model.diff) {
      if (i === 0) return mix(NEUTRAL, NEUTRAL, 0);
      const d = change(model, i).delta;
      if (Math.abs(d) < NO_CHANGE) return mix(NEUTRAL, NEUTRAL, 0);
      const t = Math.min(1, Math.abs(d) / Math.max(model.maxDelta, SMALLEST_SCALE));
      return mix(NEUTRAL, d > 0 ? GREW : SHRANK, 0.15 + 0.85 * t);
    }
    if (i === 0) return "hsl(220,10%,62%)";
    const h = hash(node.n || "");
    if (node.o) return `hsl(${Math.round(8 + 38 * h)},88%,${Math.round(55 + 10 * h)}%)`;
    return `hsl(215,${Math.round(4 + 8 * h)}%,${Math.round(72 + 12 * h)}%)`;
  }

  function escapeHtml(s) {
    return String(s === undefined || s === null ? "" : s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  }

  function shortFile(f) {
    const parts = String(f || "").split("/");
    return parts.length > 2 ? "\u2026/" + parts.slice(-2).join("/") : String(f || "");
  }

  // ---- the view -------------------------------------------------------------------------------

  const ROW = 18;
  const now = () => (typeof performance !== "undefined" ? performance.now() : Date.now());
  const MIN_PX = 1;
  const DIMS = [["service", "Service"], ["profile", "Profile"], ["phase", "Phase"], ["compare", "Compare"],
    ["sample", "Sample type"]];
  let serial = 0;

  const CSS = `
.hf{--hf-fg:var(--vscode-editor-foreground,#222);--hf-bg:var(--vscode-editor-background,#fff);
--hf-muted:var(--vscode-descriptionForeground,#666);--hf-line:var(--vscode-panel-border,#ccd);
--hf-focus:var(--vscode-focusBorder,#0b5fff);color:var(--hf-fg);font:12px system-ui,-apple-system,Segoe UI,sans-serif;margin:8px 0}
.hf-bar{display:flex;flex-wrap:wrap;gap:6px 12px;align-items:center;margin:4px 0}
.hf-bar label{display:inline-flex;gap:4px;align-items:center}
.hf select,.hf input,.hf button{font:inherit;color:inherit;background:var(--vscode-input-background,#fff);
border:1px solid var(--hf-line);border-radius:3px;padding:2px 6px}
.hf button{cursor:pointer;background:var(--vscode-button-secondaryBackground,#f3f5f8)}
.hf button[aria-pressed=true]{background:var(--vscode-button-background,#dbe6ff);color:var(--vscode-button-foreground,inherit)}
.hf input.hf-bad{border-color:#b00020}
.hf :focus-visible{outline:2px solid var(--hf-focus);outline-offset:1px}
.hf-title{font-weight:600;margin:6px 0 2px}.hf-muted{color:var(--hf-muted)}
.hf-crumbs{display:flex;flex-wrap:wrap;gap:2px;align-items:center;min-height:20px;margin:2px 0}
.hf-crumbs button{border:none;background:none;padding:0 2px;color:var(--vscode-textLink-foreground,#0b5fff);text-decoration:underline}
.hf-crumbs button[aria-current]{color:inherit;text-decoration:none;font-weight:600}
.hf-frames{position:relative;overflow:hidden;border:1px solid var(--hf-line);background:var(--hf-bg)}
.hf-f{position:absolute;height:${ROW - 1}px;line-height:${ROW - 1}px;box-sizing:border-box;overflow:hidden;
white-space:nowrap;text-overflow:ellipsis;padding:0 3px;border-right:1px solid var(--hf-bg);color:#111;cursor:pointer;
font-size:11px;font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
.hf-f.hf-o{font-weight:600}.hf-f.hf-m{background:repeating-linear-gradient(135deg,#ddd 0 4px,#eee 4px 8px);color:#444;font-style:italic}
.hf-f:focus{outline:2px solid var(--hf-focus);outline-offset:-2px;z-index:2}
.hf-f.hf-hit{box-shadow:inset 0 0 0 2px #b0008c;background:#f7a8e8 !important;color:#000}
.hf-searching .hf-f:not(.hf-hit){opacity:.35}
.hf-tip{position:fixed;z-index:1000;max-width:520px;pointer-events:none;background:var(--vscode-editorHoverWidget-background,#fffff4);
color:var(--vscode-editorHoverWidget-foreground,#222);border:1px solid var(--vscode-editorHoverWidget-border,#aab);
box-shadow:0 2px 8px rgba(0,0,0,.2);padding:6px 8px;border-radius:3px;font-size:12px;line-height:1.45}
.hf-tip b{word-break:break-all}.hf-tip .hf-grew{color:#b00020}.hf-tip .hf-shrank{color:#1f5fa8}
.hf-legend{display:flex;flex-wrap:wrap;gap:4px 10px;align-items:center;color:var(--hf-muted)}
.hf-legend i{display:inline-block;width:14px;height:10px;vertical-align:middle;margin-right:3px;border:1px solid rgba(0,0,0,.15)}
.hf-legend .hf-ramp{width:120px}
.hf-status{min-height:16px}
@media print{.hf-bar input,.hf-bar button,.hf-crumbs button:not([aria-current]),.hf-tip{display:none !important}
.hf-frames{break-inside:avoid;border-color:#000}.hf-f{print-color-adjust:exact;-webkit-print-color-adjust:exact;color:#000}
.hf-searching .hf-f:not(.hf-hit){opacity:1}.hf-legend i{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
`;

  function injectCss(doc) {
    if (doc.getElementById("harness-flame-css")) return;
    const style = doc.createElement("style");
    style.id = "harness-flame-css";
    style.textContent = CSS;
    doc.head.appendChild(style);
  }

  function el(doc, tag, attrs, text) {
    const e = doc.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) e.setAttribute(k, v);
    }
    if (text !== undefined) e.textContent = text;
    return e;
  }

  class Viewer {
    constructor(host, options) {
      this.host = host;
      this.doc = host.ownerDocument;
      this.options = options || {};
      this.id = "hf" + ++serial;
      this.graphs = [];
      this.current = -1;
      this.model = null;
      this.zoom = 0;
      this.focus = 0;
      this.search = { match: null, hits: new Set(), value: 0, share: 0 };
      this.orientation = this.options.orientation === "flame" ? "flame" : "icicle";
      this.drawn = [];
      this.models = new Map();
      injectCss(this.doc);
      this.build();
      this.update(this.options.graphs || []);
    }

    build() {
      const d = this.doc;
      this.host.classList.add("hf");
      this.host.textContent = "";
      this.bar = el(d, "div", { class: "hf-bar" });
      this.selects = {};
      this.searchBox = el(d, "input", { type: "search", placeholder: "search: text or /regex/", "aria-label": "Search frames (text, or /regex/)", size: "26" });
      this.orient = el(d, "button", { type: "button", "aria-pressed": String(this.orientation === "flame"), title: "Icicle (root on top) or flame (root at the bottom)" });
      this.reset = el(d, "button", { type: "button" }, "Reset zoom");
      this.status = el(d, "div", { class: "hf-status hf-muted", "aria-live": "polite" });
      this.title = el(d, "div", { class: "hf-title" });
      this.crumbs = el(d, "nav", { class: "hf-crumbs", "aria-label": "Zoom path" });
      this.legend = el(d, "div", { class: "hf-legend" });
      this.frames = el(d, "div", { class: "hf-frames", role: "group", "aria-label": "Flame graph frames: arrow keys move, Enter zooms, Escape resets" });
      this.tip = el(d, "div", { class: "hf-tip", role: "tooltip", id: this.id + "-tip", hidden: "" });
      const searchLabel = el(d, "label");
      searchLabel.append(this.searchBox);
      this.bar.append(searchLabel, this.reset, this.orient);
      this.host.append(this.title, this.bar, this.status, this.legend, this.crumbs, this.frames, this.tip);
      this.searchBox.addEventListener("input", () => this.setSearch(this.searchBox.value));
      this.orient.addEventListener("click", () => this.setOrientation(this.orientation === "flame" ? "icicle" : "flame"));
      this.reset.addEventListener("click", () => this.zoomTo(0));
      this.frames.addEventListener("click", (e) => this.onClick(e));
      this.frames.addEventListener("mouseover", (e) => this.onHover(e));
      this.frames.addEventListener("mousemove", (e) => this.placeTip(e.clientX, e.clientY));
      this.frames.addEventListener("mouseleave", () => this.hideTip());
      this.frames.addEventListener("keydown", (e) => this.onKey(e));
      this.frames.addEventListener("focusin", (e) => this.onFocus(e));
      this.frames.addEventListener("focusout", () => this.hideTip());
      const win = this.doc.defaultView;
      if (win && win.ResizeObserver) {
        let width = this.frames.clientWidth;
        new win.ResizeObserver(() => {
          if (this.frames.clientWidth !== width && this.model) {
            width = this.frames.clientWidth;
            this.render();
          }
        }).observe(this.frames);
      }
    }

    /** Replace the graphs; keeps the selection of dimensions, the search and (by names) the zoom. */
    update(graphs) {
      const before = this.current >= 0 ? this.graphs[this.current].dims : null;
      this.graphs = graphs;
      this.models = new Map();
      this.buildSelects();
      if (!graphs.length) {
        this.current = -1;
        this.model = null;
        this.title.textContent = this.options.empty || "No flame graph data.";
        for (const part of [this.frames, this.legend, this.crumbs, this.status]) part.textContent = "";
        this.frames.style.height = "";
        return;
      }
      this.show(before ? this.best(before, null) : 0);
    }

    dims() {
      const keys = [];
      for (const [key, label] of DIMS.concat(this.extraDims())) {
        const values = [...new Set(this.graphs.map((g) => g.dims[key]).filter((v) => v !== undefined && v !== null))];
        if (values.length > 1) keys.push([key, label, values]);
      }
      return keys;
    }

    extraDims() {
      const known = new Set(DIMS.map(([k]) => k));
      const extra = new Set();
      for (const g of this.graphs) for (const k of Object.keys(g.dims)) if (!known.has(k)) extra.add(k);
      return [...extra].map((k) => [k, k]);
    }

    buildSelects() {
      for (const s of Object.values(this.selects)) s.parentNode.remove();
      this.selects = {};
      const first = this.bar.firstChild;
      for (const [key, label, values] of this.dims()) {
        const wrap = el(this.doc, "label", {}, label + " ");
        const sel = el(this.doc, "select", { "data-dim": key });
        for (const v of values) sel.append(el(this.doc, "option", { value: v }, v));
        sel.addEventListener("change", () => {
          const want = Object.assign({}, this.graphs[this.current].dims, { [key]: sel.value });
          this.show(this.best(want, key));
        });
        wrap.append(sel);
        this.bar.insertBefore(wrap, first);
        this.selects[key] = sel;
      }
    }

    /** The graph that matches `want` best: the changed dimension first, then the most others. */
    best(want, changed) {
      let pick = 0;
      let score = -1;
      this.graphs.forEach((g, i) => {
        if (changed && g.dims[changed] !== want[changed]) return;
        let s = 0;
        for (const [key] of DIMS.concat(this.extraDims())) if (g.dims[key] === want[key]) s += key === "sample" ? 1 : 2;
        if (s > score) [pick, score] = [i, s];
      });
      return pick;
    }

    modelOf(i) {
      if (!this.models.has(i)) this.models.set(i, index(this.graphs[i].tree));
      return this.models.get(i);
    }

    /** Show graph i, zoomed into the frame with the same path of names as before, if any. */
    show(i) {
      const path = this.model ? this.namePath(this.zoom) : [];
      this.current = i;
      this.model = this.modelOf(i);
      const g = this.graphs[i];
      for (const [key, sel] of Object.entries(this.selects)) sel.value = g.dims[key];
      this.zoom = path.length ? this.findPath(path) : 0;
      this.focus = this.zoom;
      this.title.textContent = g.title || "";
      this.renderLegend();
      this.setSearch(this.searchBox.value);
    }

    namePath(i) {
      const names = [];
      for (let k = i; k > 0; k = this.model.parent[k]) names.unshift(this.model.nodes[k].n);
      return names;
    }

    findPath(names) {
      let at = 0;
      for (const name of names) {
        const next = this.model.kids[at].find((k) => this.model.nodes[k].n === name);
        if (next === undefined) break;
        at = next;
      }
      return at;
    }

    setSearch(term) {
      const m = matcher(term);
      this.searchBox.classList.toggle("hf-bad", !!m.error);
      this.searchBox.setAttribute("aria-invalid", m.error ? "true" : "false");
      this.search = m.match && this.model ? searchSum(this.model, m.match) : { hits: new Set(), value: 0, share: 0 };
      this.search.active = !!m.match;
      this.search.error = m.error;
      this.render();
      this.renderStatus();
    }

    setOrientation(o) {
      this.orientation = o;
      this.orient.setAttribute("aria-pressed", String(o === "flame"));
      this.render();
    }

    zoomTo(i) {
      if (!this.model) return;
      const had = this.frames.contains(this.doc.activeElement);   // redrawing drops the focused frame
      this.zoom = i;
      this.focus = i;
      this.render();
      this.focusFrame(i, had);
    }

    unit() {
      return this.model.tree.unit;
    }

    renderStatus() {
      const s = this.search;
      if (s.error) this.status.textContent = "search: not a regular expression: " + s.error;
      else if (s.active) {
        this.status.textContent = `search: ${s.hits.size} frame${s.hits.size === 1 ? "" : "s"} match, ` +
          `${formatValue(s.value, this.unit())} = ${percent(s.share)} of the total`;
      } else this.status.textContent = "";
      this.status.setAttribute("data-share", s.active ? String(s.share) : "");
    }

    renderLegend() {
      const m = this.model;
      const t = m.tree;
      const total = `${t.sample_type} total ${formatValue(m.total, t.unit)}`;
      if (m.diff) {
        const scale = Math.max(m.maxDelta, SMALLEST_SCALE);
        const ramp = `linear-gradient(90deg,${mix(NEUTRAL, SHRANK, 1)},${mix(NEUTRAL, NEUTRAL, 0)},${mix(NEUTRAL, GREW, 1)})`;
        this.legend.innerHTML = `<span>${escapeHtml(total)} (base ${escapeHtml(formatValue(m.baseTotal, t.unit))})</span>` +
          `<span>width: this phase's value; colour: change of share of the total</span>` +
          `<span>shrank ${escapeHtml(points(-scale))} <i class="hf-ramp" style="background:${ramp}"></i> grew ${escapeHtml(points(scale))}</span>` +
          `<span><b>bold</b>: own code</span>`;
      } else {
        this.legend.innerHTML = `<span>${escapeHtml(total)}</span>` +
          `<span><i style="background:hsl(25,88%,60%)"></i>own code</span>` +
          `<span><i style="background:hsl(215,8%,78%)"></i>library and runtime</span>` +
          `<span><i class="hf-m" style="background:repeating-linear-gradient(135deg,#ddd 0 4px,#eee 4px 8px)"></i>small frames merged</span>`;
      }
    }

    /** Draw the frames of the zoomed subtree (and the zoomed frame's ancestors, full width). */
    render() {
      const m = this.model;
      if (!m) return;
      const width = Math.max(this.frames.clientWidth || 0, 200);
      const z = this.zoom;
      const scale = m.nodes[z].v > 0 ? width / m.nodes[z].v : 0;
      const drawn = [];
      for (let a = m.parent[z]; a >= 0; a = m.parent[a]) drawn.push([a, 0, width]);
      const stack = [z];
      while (stack.length) {
        const i = stack.pop();
        const w = m.nodes[i].v * scale;
        if (w < MIN_PX) continue;
        drawn.push([i, (m.start[i] - m.start[z]) * scale, w]);
        for (const k of m.kids[i]) stack.push(k);
      }
      let rows = 0;
      for (const [i] of drawn) rows = Math.max(rows, m.depth[i] + 1);
      const t0 = now();
      const html = [];
      const hits = this.search.hits;
      for (const [i, x, w] of drawn) {
        const node = m.nodes[i];
        const top = this.orientation === "flame" ? (rows - 1 - m.depth[i]) * ROW : m.depth[i] * ROW;
        const cls = "hf-f" + (node.o ? " hf-o" : "") + (node.m ? " hf-m" : "") + (hits.has(i) ? " hf-hit" : "");
        const fill = colour(m, i);
        const label = node.m ? `other (${node.m} frames)` : node.n;
        html.push(`<div class="${cls}" data-i="${i}" tabindex="${i === this.focus ? 0 : -1}" role="button" ` +
          `style="left:${x.toFixed(1)}px;width:${w.toFixed(1)}px;top:${top}px${fill ? ";background:" + fill : ""}">` +
          `${w > 18 ? escapeHtml(label) : ""}</div>`);
      }
      this.drawn = drawn;
      if (!drawn.length) html.push(`<div class="hf-muted" style="padding:4px">no ${escapeHtml(m.tree.sample_type)} in this profile</div>`);
      this.frames.style.height = Math.max(rows, 1) * ROW + "px";
      this.frames.classList.toggle("hf-searching", this.search.active && hits.size > 0);
      this.frames.innerHTML = html.join("");
      const stop = this.frames.querySelector('[tabindex="0"]') || this.frames.querySelector(`[data-i="${z}"]`);
      if (stop) stop.tabIndex = 0;
      this.hideTip();
      this.renderedAt = now();
      this.renderMs = this.renderedAt - t0;
      this.orient.textContent = this.orientation === "flame" ? "Flame \u2191" : "Icicle \u2193";
      this.reset.disabled = z === 0;
      this.renderCrumbs();
    }

    renderCrumbs() {
      const m = this.model;
      const path = [];
      for (let k = this.zoom; k >= 0; k = m.parent[k]) path.unshift(k);
      this.crumbs.textContent = "";
      path.forEach((k, n) => {
        if (n) this.crumbs.append(this.doc.createTextNode(" \u203a "));
        const b = el(this.doc, "button", { type: "button", "data-i": String(k) }, k === 0 ? "all" : m.nodes[k].n);
        if (k === this.zoom) b.setAttribute("aria-current", "true");
        b.addEventListener("click", () => this.zoomTo(k));
        this.crumbs.append(b);
      });
    }

    frameIndex(target) {
      const f = target && target.closest ? target.closest(".hf-f") : null;
      return f ? Number(f.getAttribute("data-i")) : -1;
    }

    onClick(e) {
      const i = this.frameIndex(e.target);
      if (i < 0) return;
      this.activate(i);
    }

    /** Zoom into a frame (the root resets) and tell the host (the editor opens its file). */
    activate(i) {
      this.zoomTo(i);
      const node = this.model.nodes[i];
      if (this.options.onOpen && i > 0 && !node.m) this.options.onOpen(node);
    }

    onHover(e) {
      const i = this.frameIndex(e.target);
      if (i < 0) return;
      this.showTip(i);
      this.placeTip(e.clientX, e.clientY);
    }

    onFocus(e) {
      const i = this.frameIndex(e.target);
      if (i < 0) return;
      this.focus = i;
      e.target.setAttribute("aria-label", this.describe(i));
      e.target.setAttribute("aria-describedby", this.tip.id);
      this.showTip(i);
      const r = e.target.getBoundingClientRect();
      this.placeTip(r.left + Math.min(r.width / 2, 40), r.bottom);
    }

    describe(i) {
      const n = this.model.nodes[i];
      return `${n.m ? `other (${n.m} frames)` : n.n}, total ${formatValue(n.v, this.unit())}, ` +
        `${percent(this.model.total ? n.v / this.model.total : 0)}`;
    }

    tipHtml(i) {
      const m = this.model;
      const n = m.nodes[i];
      const u = this.unit();
      const share = (v) => percent(m.total ? v / m.total : 0);
      const out = [`<b>${escapeHtml(n.m ? `other (${n.m} small frames merged)` : i === 0 ? "all (root)" : n.n)}</b>`];
      if (n.f) out.push(`<span title="${escapeHtml(n.f)}">${escapeHtml(shortFile(n.f))}${n.l ? ":" + n.l : ""}</span>`);
      if (i > 0 && !n.m) out.push(`<span class="hf-muted">${n.o ? "own code" : "library or runtime"}</span>`);
      const inZoom = this.zoom > 0 && i > this.zoom && i <= lastDescendant(m, this.zoom) && m.nodes[this.zoom].v;
      out.push(`total ${escapeHtml(formatValue(n.v, u))} (${share(n.v)} of all` +
        (inZoom ? `, ${percent(n.v / m.nodes[this.zoom].v)} of the zoomed frame` : "") + ")");
      out.push(`self ${escapeHtml(formatValue(n.s, u))} (${share(n.s)})`);
      if (m.diff) {
        const c = change(m, i);
        const dir = c.delta > 0 ? "hf-grew" : c.delta < 0 ? "hf-shrank" : "";
        out.push(`base: total ${escapeHtml(formatValue(n.bv || 0, u))} (${percent(c.before)}), self ${escapeHtml(formatValue(n.bs || 0, u))}`);
        out.push(`this phase: total ${escapeHtml(formatValue(n.v, u))} (${percent(c.after)})`);
        out.push(`<span class="${dir}">change of share ${escapeHtml(points(c.delta))}</span>`);
      }
      if (this.options.onOpen && n.p) out.push('<span class="hf-muted">click or Enter: zoom and open the source</span>');
      return out.join("<br>");
    }

    showTip(i) {
      this.tip.innerHTML = this.tipHtml(i);
      this.tip.hidden = false;
    }

    placeTip(x, y) {
      if (this.tip.hidden) return;
      const win = this.doc.defaultView;
      const w = this.tip.offsetWidth;
      const h = this.tip.offsetHeight;
      const left = Math.max(4, Math.min(x + 12, win.innerWidth - w - 8));
      const top = y + 16 + h > win.innerHeight ? Math.max(4, y - h - 10) : y + 16;
      this.tip.style.left = left + "px";
      this.tip.style.top = top + "px";
    }

    hideTip() {
      this.tip.hidden = true;
    }

    /** Make frame i the tab stop, and focus it when `take` (or when the focus is in the frames). */
    focusFrame(i, take) {
      const f = this.frames.querySelector(`[data-i="${i}"]`);
      if (!f) return;
      for (const old of this.frames.querySelectorAll('[tabindex="0"]')) old.tabIndex = -1;
      f.tabIndex = 0;
      this.focus = i;
      if (take || this.frames.contains(this.doc.activeElement)) f.focus();
    }

    /** The drawn frame next to frame i: "up"/"down" on screen, "left"/"right" in its row. */
    neighbour(i, dir) {
      const m = this.model;
      const drawn = new Map(this.drawn.map(([k, x, w]) => [k, [x, w]]));
      const deeper = (dir === "down") === (this.orientation === "icicle");
      if (dir === "up" || dir === "down") {
        if (!deeper) return m.parent[i] >= 0 ? m.parent[i] : i;
        const kid = m.kids[i].find((k) => drawn.has(k));
        return kid === undefined ? i : kid;
      }
      const row = this.drawn.filter(([k]) => m.depth[k] === m.depth[i]).sort((a, b) => a[1] - b[1]);
      const at = row.findIndex(([k]) => k === i);
      const next = row[at + (dir === "left" ? -1 : 1)];
      return next ? next[0] : i;
    }

    onKey(e) {
      const i = this.frameIndex(e.target);
      if (i < 0) return;
      const dirs = { ArrowUp: "up", ArrowDown: "down", ArrowLeft: "left", ArrowRight: "right" };
      if (dirs[e.key]) {
        e.preventDefault();
        this.focusFrame(this.neighbour(i, dirs[e.key]), true);
      } else if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        this.activate(i);
      } else if (e.key === "Escape") {
        e.preventDefault();
        this.zoomTo(0);
      } else if (e.key === "Home") {
        e.preventDefault();
        this.focusFrame(this.drawn.length ? this.drawn[0][0] : 0, true);
      }
    }

    /** For tests and hosts: the drawn frame of a function (the widest), with its box. */
    find(name) {
      let best = null;
      for (const [i, x, w] of this.drawn) {
        if (this.model.nodes[i].n === name && (!best || w > best.width)) best = { index: i, x, width: w };
      }
      return best;
    }
  }

  function mount(host, options) {
    const viewer = new Viewer(host, options);
    host.harnessFlame = viewer;
    return viewer;
  }

  /** Mount every element with data-flame-source (the id of a JSON script holding compact data). */
  function autoMount(doc) {
    const out = [];
    for (const host of doc.querySelectorAll("[data-flame-source]")) {
      if (host.harnessFlame) continue;
      const src = doc.getElementById(host.getAttribute("data-flame-source"));
      if (!src) continue;
      const t0 = now();
      const viewer = mount(host, { graphs: decode(JSON.parse(src.textContent)), orientation: host.getAttribute("data-orientation") });
      host.setAttribute("data-render-ms", (now() - t0).toFixed(1));
      out.push(viewer);
    }
    return out;
  }

  /** In a VS Code webview: graphs arrive as {type: "graphs", graphs, title} messages; a click
   *  posts {type: "open", path, line, file, function} back to the extension. */
  function webview(doc, vscodeApi) {
    const host = doc.getElementById("flame") || doc.body.appendChild(el(doc, "div", { id: "flame" }));
    const viewer = mount(host, {
      graphs: [],
      empty: "Waiting for the language server\u2026",
      onOpen: (node) => vscodeApi.postMessage({ type: "open", path: node.p || null, file: node.f, line: node.l, function: node.n }),
    });
    doc.defaultView.addEventListener("message", (e) => {
      const msg = e.data || {};
      if (msg.type === "graphs") {
        viewer.options.empty = msg.message || "No flame graph for the current selection.";
        viewer.update(msg.graphs || []);
      }
    });
    vscodeApi.postMessage({ type: "ready" });
    return viewer;
  }

  const api = { mount, autoMount, decode, index, matcher, searchSum, change, colour, formatValue, percent, points, sig3, webview, Viewer };
  root.HarnessFlame = api;
  if (typeof module === "object" && module.exports) module.exports = api;
  if (typeof document !== "undefined") {
    const start = () => {
      if (typeof acquireVsCodeApi === "function" && document.body && document.body.hasAttribute("data-flame-webview")) {
        webview(document, acquireVsCodeApi());   // eslint-disable-line no-undef
      } else {
        autoMount(document);
      }
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
    else start();
  }
})(typeof globalThis !== "undefined" ? globalThis : this);
