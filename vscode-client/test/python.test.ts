import assert from "node:assert/strict";
import { test } from "node:test";
import * as path from "node:path";
import { chooseInterpreter, diagnose, harnessCommand, interpreterCandidates, probe, venvPython } from "../src/python";

test("candidates: setting, then each folder's .venv and venv, then python3", () => {
  const c = interpreterCandidates("/opt/py/bin/python", ["/a", "/b"], "linux");
  assert.deepEqual(c.map((x) => `${x.source}:${x.command}`), [
    "setting:/opt/py/bin/python",
    "workspace .venv:/a/.venv/bin/python",
    "workspace .venv:/a/venv/bin/python",
    "workspace .venv:/b/.venv/bin/python",
    "workspace .venv:/b/venv/bin/python",
    "PATH:python3",
  ]);
  assert.equal(venvPython("C:\\w\\.venv", "win32"), path.join("C:\\w\\.venv", "Scripts", "python.exe"));
  assert.equal(interpreterCandidates(null, [], "win32").at(-1)?.command, "python");
});

test("a set interpreter wins even when missing (the check reports it), a .venv only when it exists", () => {
  const none = () => false;
  assert.equal(chooseInterpreter(interpreterCandidates("/missing/python", ["/a"], "linux"), none).source, "setting");
  assert.equal(chooseInterpreter(interpreterCandidates(null, ["/a"], "linux"), none).command, "python3");
  const only = (p: string) => p === "/b/.venv/bin/python";
  assert.equal(chooseInterpreter(interpreterCandidates(null, ["/a", "/b"], "linux"), only).command, "/b/.venv/bin/python");
});

const interp = { command: "/x/bin/python", source: "setting" as const };

test("diagnosis: missing interpreter, missing package, failure, all good", () => {
  const nf = diagnose(interp, { kind: "not-found", error: "spawn ENOENT" });
  assert.match(nf!.message, /no Python interpreter at \/x\/bin\/python \(from setting\)/);
  assert.match(nf!.fix, /harness\.pythonPath/);
  const report = { python: "3.11.2", executable: "/x/bin/python", lsp: false, pygls: true, harness: false };
  const missing = diagnose(interp, { kind: "ok", report });
  assert.match(missing!.message, /cannot import lsp/);
  assert.match(missing!.fix, /-m pip install -e/);
  const failed = diagnose(interp, { kind: "failed", exitCode: 1, stderr: "boom" });
  assert.match(failed!.message, /exit code 1\): boom/);
  assert.equal(diagnose(interp, { kind: "ok", report: { ...report, lsp: true } }), null);
});

test("probe runs a real interpreter and a missing one", async () => {
  const missing = await probe("/nonexistent/python3", undefined);
  assert.equal(missing.kind, "not-found");
  const real = await probe("python3", undefined);
  assert.equal(real.kind, "ok");
  if (real.kind === "ok") {
    assert.match(real.report.python, /^3\.\d+\.\d+$/);
    assert.equal(typeof real.report.lsp, "boolean");
  }
});

test("harness command: console script beside the interpreter, else python -m harness", () => {
  assert.deepEqual(harnessCommand("/v/bin/python", (p) => p === "/v/bin/harness", "linux"), { command: "/v/bin/harness", args: [] });
  assert.deepEqual(harnessCommand("/v/bin/python", () => false, "linux"), { command: "/v/bin/python", args: ["-m", "harness"] });
  assert.deepEqual(harnessCommand("python3", () => true, "linux"), { command: "python3", args: ["-m", "harness"] });
});
