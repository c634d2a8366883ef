import assert from "node:assert/strict";
import { test } from "node:test";
import { SERVER_DEFAULTS, changeEffects, configurationPayload, expandWorkspaceFolder, resolveClientSettings, resolveServerSettings } from "../src/settings";

const from = (o: Record<string, unknown>) => (k: string) => o[k];

test("nothing set gives the protocol defaults", () => {
  const r = resolveServerSettings(from({}), "/ws");
  assert.deepEqual(r.value, { ...SERVER_DEFAULTS, pathMappings: [] });
  assert.deepEqual(r.problems, []);
  assert.deepEqual(Object.keys(r.value).sort(), [
    "annotations", "codeLens", "diagnostics", "diagnosticsTopN", "hover", "inlayHints", "maxProfileMiB", "mode", "pathMappings",
    "phase", "pollInterval", "profile", "run", "runsDir", "sampleType", "staleMode", "threshold",
  ]);
});

test("user values pass through; empty strings mean null for optional keys", () => {
  const r = resolveServerSettings(from({ run: "demo-1", sampleType: "  ", phase: "fault", mode: "cum", threshold: 0.05, inlayHints: false, runsDir: "${workspaceFolder}/out/runs" }), "/ws");
  assert.equal(r.value.run, "demo-1");
  assert.equal(r.value.sampleType, null);
  assert.equal(r.value.phase, "fault");
  assert.equal(r.value.mode, "cum");
  assert.equal(r.value.threshold, 0.05);
  assert.equal(r.value.inlayHints, false);
  assert.equal(r.value.runsDir, "/ws/out/runs");
  assert.deepEqual(r.problems, []);
});

test("invalid values fall back to defaults and each is reported with the key and what was seen", () => {
  const r = resolveServerSettings(from({ mode: "hot", threshold: 2, annotations: "yes", diagnosticsTopN: 2.5, pollInterval: 0, staleMode: 1 }), null);
  assert.equal(r.value.mode, "own");
  assert.equal(r.value.threshold, 0.01);
  assert.equal(r.value.annotations, true);
  assert.equal(r.value.diagnosticsTopN, 10);
  assert.equal(r.value.pollInterval, 2.0);
  assert.equal(r.value.staleMode, "mark");
  assert.equal(r.problems.length, 6);
  assert.match(r.problems[0], /harness\.mode: expected one of own, flat, cum, got "hot"/);
  assert.match(r.problems.join("\n"), /harness\.threshold: expected a number in 0\.\.1, got 2/);
});

test("path mappings expand ${workspaceFolder} and drop malformed entries with a message", () => {
  const r = resolveServerSettings(from({ pathMappings: [{ from: "/src", to: "${workspaceFolder}/compose/demo" }, { from: "/x" }, "nope"] }), "/ws");
  assert.deepEqual(r.value.pathMappings, [{ from: "/src", to: "/ws/compose/demo" }]);
  assert.equal(r.problems.length, 2);
  assert.match(r.problems[0], /pathMappings\[1\]/);
});

test("client settings: python path expanded, heat switches default on", () => {
  const r = resolveClientSettings(from({ pythonPath: "${workspaceFolder}/.venv/bin/python", "heat.gutter": false }), "/ws");
  assert.deepEqual(r.value, { pythonPath: "/ws/.venv/bin/python", heatGutter: false, heatLineBackground: true, heatOverviewRuler: true });
  assert.equal(resolveClientSettings(from({ pythonPath: "" }), "/ws").value.pythonPath, null);
  assert.equal(expandWorkspaceFolder("${workspaceFolder}/a", null), "${workspaceFolder}/a");
});

test("didChangeConfiguration payload has the shape the server reads", () => {
  const p = configurationPayload(resolveServerSettings(from({ run: "r" }), null).value);
  assert.equal(p.settings.harness.run, "r");
});

test("a change of interpreter restarts, a server key re-sends, heat switches repaint", () => {
  const eff = (keys: string[]) => [...changeEffects((k) => keys.includes(k))].sort();
  assert.deepEqual(eff(["pythonPath"]), ["restart"]);
  assert.deepEqual(eff(["threshold"]), ["resend"]);
  assert.deepEqual(eff(["heat"]), ["repaint"]);
  assert.deepEqual(eff(["trace"]), []);
});
