import assert from "node:assert/strict";
import { test } from "node:test";
import {
  NEWEST_RUN_ITEM, baselineItems, compareLabel, displayPath, hotLineItems, phaseItems, profileItems, runItems, statusBar, statusMenuItems,
} from "../src/models";
import type { RunEntry, StatusParams } from "../src/protocol";

const status: StatusParams = {
  run: "demo-20261122T113000Z", runPath: "/ws/runs/demo-20261122T113000Z", profile: "cpu", sampleType: "cpu",
  phase: "fault", compare: null, enabled: true, message: null,
};

test("status bar shows run, profile:sample type and phase", () => {
  const m = statusBar(status, "running");
  assert.equal(m.text, "$(flame) demo-20261122T113000Z · cpu:cpu · fault");
  assert.match(m.tooltip, /Run: demo-20261122T113000Z\nProfile: cpu \(cpu\)\nPhase: fault/);
});

test("status bar shows diff mode, disabled state, warnings and server states", () => {
  assert.equal(statusBar({ ...status, compare: { baseline: "baseline" } }, "running").text, "$(flame) demo-20261122T113000Z · cpu:cpu · Δ phase baseline");
  assert.ok(statusBar({ ...status, enabled: false }, "running").text.startsWith("$(eye-closed) "));
  const info = statusBar({ ...status, message: "own cpu from run r phase fault" }, "running");
  assert.ok(info.text.startsWith("$(flame) "), "an informational message keeps the flame");
  assert.match(info.tooltip, /own cpu from run r phase fault/);
  const warn = statusBar({ ...status, sampleType: null, message: "no profile cpu in phase fault" }, "running");
  assert.ok(warn.text.startsWith("$(warning) "), "nothing loaded shows a warning");
  assert.match(warn.tooltip, /no profile cpu in phase fault/);
  assert.equal(statusBar(null, "failed").text, "$(error) Harness");
  assert.equal(statusBar(status, "starting").text, "$(sync~spin) Harness");
  assert.equal(statusBar({ ...status, run: null, profile: null }, "running").text, "$(flame) Harness: no run");
  assert.ok(statusBar({ ...status, run: "x".repeat(60) }, "running").text.includes("…"));
});

test("compare labels", () => {
  assert.equal(compareLabel(null), null);
  assert.equal(compareLabel({ off: true }), null);
  assert.equal(compareLabel({ run: "r1" }), "run r1");
  assert.equal(compareLabel("baseline"), "baseline");
});

const runs: RunEntry[] = [
  { id: "demo-20261122T100000Z", path: "/r/1", scenario: "demo", wall_t0_iso: "2026-11-22T10:00:00Z", phases: ["baseline", "fault"], status: "completed" },
  { id: "demo-20261122T120000Z", path: "/r/2", scenario: "demo", wall_t0_iso: "2026-11-22T12:00:00Z", phases: [{ name: "main", start_s: 0, end_s: 10, faults: [] }], status: "failed" },
];

test("run items: newest first, current checked, excluded run left out", () => {
  const items = runItems(runs, "demo-20261122T100000Z");
  assert.deepEqual(items.map((i) => i.value), ["demo-20261122T120000Z", "demo-20261122T100000Z"]);
  assert.equal(items[1].label, "$(check) demo-20261122T100000Z");
  assert.equal(items[0].description, "demo · failed");
  assert.match(items[1].detail!, /phases: baseline, fault/);
  assert.deepEqual(runItems(runs, null, "demo-20261122T120000Z").map((i) => i.value), ["demo-20261122T100000Z"]);
  assert.equal(NEWEST_RUN_ITEM.value, null);
});

test("profile items: one per kind and sample type, phases and services listed", () => {
  const items = profileItems([
    { kind: "cpu", phase: "baseline", service: "api", path: "a", sampleTypes: ["samples", "cpu"] },
    { kind: "cpu", phase: "fault", service: "api", path: "b", sampleTypes: ["samples", "cpu"] },
    { kind: "goroutine", phase: "fault", service: "api", path: "c", sampleTypes: [] },
  ], status);
  assert.deepEqual(items.map((i) => i.label), ["cpu · samples", "$(check) cpu · cpu", "goroutine"]);
  assert.equal(items[0].description, "baseline/api, fault/api");
  assert.deepEqual(items[2].value, { profile: "goroutine", sampleType: null });
});

test("phase items: default first, spans and faults described", () => {
  const items = phaseItems([{ name: "baseline", start_s: 0, end_s: 10, faults: [] }, { name: "fault", start_s: 10, end_s: 20, faults: ["f1"] }], "fault");
  assert.deepEqual(items.map((i) => i.value), [null, "baseline", "fault"]);
  assert.equal(items[2].label, "$(check) fault");
  assert.equal(items[2].description, "10.0–20.0 s · faults: f1");
  assert.deepEqual(baselineItems(["fault", "recovery", "baseline"], "fault").map((i) => i.value), ["baseline", "recovery"]);
});

test("hot line items: hottest first, workspace-relative path, 1-based line", () => {
  const items = hotLineItems([
    { uri: "file:///ws/a.go", line: 4, function: "main.cold", value: 1, share: 0.1, label: "0.1s 10%" },
    { uri: "file:///ws/pkg/b%20c.go", line: 41, function: "main.hot", value: 9, share: 0.9, label: "0.9s 90%" },
  ], ["/ws"]);
  assert.equal(items[0].label, "$(flame) 0.9s 90%");
  assert.equal(items[0].description, "pkg/b c.go:42");
  assert.equal(items[0].detail, "main.hot");
  assert.equal(displayPath("file:///elsewhere/x.go", ["/ws"]), "/elsewhere/x.go");
});

test("status menu follows the state", () => {
  const running = statusMenuItems({ ...status, compare: { run: "r" } }, "running").map((i) => i.value);
  assert.ok(running.includes("pickRun") && running.includes("compareOff") && running.includes("toggleAnnotations"));
  assert.ok(!statusMenuItems(status, "running").map((i) => i.value).includes("compareOff"));
  assert.deepEqual(statusMenuItems(null, "failed").map((i) => i.value), ["runScenario", "restartServer", "showLog"]);
  assert.equal(statusMenuItems({ ...status, enabled: false }, "running").find((i) => i.value === "toggleAnnotations")?.label, "$(eye) Show Annotations");
});
