// Interpreter discovery and the pre-flight check of the server package.
// Order: the `harness.pythonPath` setting, else the workspace's .venv, else python3 on PATH.
import { execFile } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

export type InterpreterSource = "setting" | "workspace .venv" | "PATH";

export interface Interpreter {
  command: string;
  source: InterpreterSource;
}

/** Path of a virtual environment's interpreter on this platform. */
export function venvPython(venvDir: string, platform: NodeJS.Platform): string {
  return platform === "win32" ? path.join(venvDir, "Scripts", "python.exe") : path.join(venvDir, "bin", "python");
}

/** Candidates in the order they are tried; the last one is always the PATH fallback. */
export function interpreterCandidates(
  setting: string | null,
  workspaceFolders: readonly string[],
  platform: NodeJS.Platform,
): Interpreter[] {
  const out: Interpreter[] = [];
  if (setting) out.push({ command: setting, source: "setting" });
  for (const folder of workspaceFolders) {
    for (const name of [".venv", "venv"]) {
      out.push({ command: venvPython(path.join(folder, name), platform), source: "workspace .venv" });
    }
  }
  out.push({ command: platform === "win32" ? "python" : "python3", source: "PATH" });
  return out;
}

/**
 * Pick the interpreter: a setting is taken as given (a wrong path is reported by the
 * pre-flight check, not silently skipped); a .venv only when its interpreter exists.
 */
export function chooseInterpreter(candidates: readonly Interpreter[], exists: (p: string) => boolean): Interpreter {
  for (const c of candidates) {
    if (c.source === "setting" || c.source === "PATH") return c;
    if (exists(c.command)) return c;
  }
  throw new Error("interpreterCandidates always ends with the PATH fallback");
}

export function findInterpreter(setting: string | null, workspaceFolders: readonly string[]): Interpreter {
  return chooseInterpreter(interpreterCandidates(setting, workspaceFolders, process.platform), (p) => fs.existsSync(p));
}

/** What the probe script prints (one JSON line). */
export interface ProbeReport {
  python: string;
  executable: string;
  lsp: boolean;
  pygls: boolean;
  harness: boolean;
}

export type ProbeResult =
  | { kind: "ok"; report: ProbeReport }
  | { kind: "not-found"; error: string }
  | { kind: "failed"; exitCode: number | null; stderr: string };

/** Python source run by the probe; it only looks modules up, it imports nothing of the project. */
export const PROBE_SCRIPT = [
  "import importlib.util as u, json, sys",
  "f = lambda n: u.find_spec(n) is not None",
  "print(json.dumps({'python': '%d.%d.%d' % sys.version_info[:3], 'executable': sys.executable,",
  "  'lsp': f('lsp'), 'pygls': f('pygls'), 'harness': f('harness')}))",
].join("\n");

export function probe(python: string, cwd: string | undefined, timeoutMs = 20000): Promise<ProbeResult> {
  return new Promise((resolve) => {
    execFile(python, ["-c", PROBE_SCRIPT], { cwd, timeout: timeoutMs, windowsHide: true }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === "ENOENT") {
        resolve({ kind: "not-found", error: err.message });
        return;
      }
      if (err) {
        const code = typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : null;
        resolve({ kind: "failed", exitCode: code, stderr: String(stderr || err.message) });
        return;
      }
      try {
        resolve({ kind: "ok", report: JSON.parse(String(stdout).trim().split("\n").pop() ?? "") as ProbeReport });
      } catch {
        resolve({ kind: "failed", exitCode: 0, stderr: `unexpected output: ${String(stdout).slice(0, 200)}` });
      }
    });
  });
}

export interface Diagnosis {
  /** What went wrong, where, and what was seen. */
  message: string;
  /** How to fix it. */
  fix: string;
}

/** Turn a probe result into a message with a fix, or null when the server can start. */
export function diagnose(interp: Interpreter, result: ProbeResult): Diagnosis | null {
  const where = `${interp.command} (from ${interp.source})`;
  const setHint = "or set \"harness.pythonPath\" to an interpreter that has it installed";
  switch (result.kind) {
    case "not-found":
      return {
        message: `Harness: no Python interpreter at ${where}.`,
        fix: interp.source === "setting"
          ? "Fix \"harness.pythonPath\" (an absolute path to python, or empty to use the workspace's .venv)."
          : "Create the workspace's .venv (python3 -m venv .venv && .venv/bin/pip install -e .) or set \"harness.pythonPath\".",
      };
    case "failed":
      return {
        message: `Harness: the interpreter ${where} failed to start (exit code ${result.exitCode}): ${result.stderr.trim().slice(0, 300)}`,
        fix: "Check that this interpreter runs from a terminal, or set \"harness.pythonPath\" to another one.",
      };
    case "ok": {
      const missing = (["lsp", "pygls"] as const).filter((m) => !result.report[m]);
      if (missing.length === 0) return null;
      return {
        message: `Harness: Python ${result.report.python} at ${where} cannot import ${missing.join(" and ")}: the language server (harness-lsp) is not installed there.`,
        fix: `Install it: ${interp.command} -m pip install -e <path to the harness checkout>, ${setHint}.`,
      };
    }
  }
}

/** The command line that runs `harness run <scenario>`: the console script next to the interpreter, else `python -m harness`. */
export function harnessCommand(python: string, exists: (p: string) => boolean, platform: NodeJS.Platform): { command: string; args: string[] } {
  if (path.isAbsolute(python)) {
    const script = path.join(path.dirname(python), platform === "win32" ? "harness.exe" : "harness");
    if (exists(script)) return { command: script, args: [] };
  }
  return { command: python, args: ["-m", "harness"] };
}
