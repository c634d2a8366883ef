// The flame graph panel's pure parts: its HTML, its title, and the checks on what the webview
// posts. No vscode import. The viewer itself is harness/report/assets/flamegraph.js, the same
// file report.html inlines; the bundle step minifies it into dist/flamegraph.js.
import * as path from "node:path";
import { compareLabel } from "./models";
import type { FlameGraphAnswer, StatusParams } from "./protocol";

export const FLAME_VIEW_TYPE = "harness.flameGraph";
export const VIEWER_FILE = "flamegraph.js";

/** The webview's page: the viewer script from the extension (nothing inline, nothing remote). */
export function flameHtml(o: { cspSource: string; scriptUri: string; title: string }): string {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  // The viewer injects its stylesheet and sets each frame's position with a style attribute.
  const csp = [
    "default-src 'none'",
    `script-src ${o.cspSource}`,
    `style-src ${o.cspSource} 'unsafe-inline'`,
    `img-src ${o.cspSource} data:`,
  ].join("; ");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${esc(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(o.title)}</title>
<style>body{padding:0 12px}</style>
</head><body data-flame-webview>
<div id="flame"></div>
<script src="${esc(o.scriptUri)}"></script>
</body></html>`;
}

/** The panel's title: what the status bar shows (run, profile, phase or what is compared). */
export function panelTitle(status: StatusParams | null): string {
  if (!status || (!status.run && !status.profile)) return "Flame Graph";
  const cmp = compareLabel(status.compare);
  const where = cmp ? `Δ ${cmp}` : status.phase ?? "";
  const profile = [status.profile, status.sampleType].filter(Boolean).join(":");
  return ["Flame", profile, where].filter((p) => p !== "").join(" · ");
}

/** The message that hands the graphs to the viewer. */
export function graphsMessage(answer: FlameGraphAnswer | { error: string }): { type: "graphs"; graphs: FlameGraphAnswer["graphs"]; message: string } {
  if ("error" in answer) return { type: "graphs", graphs: [], message: `No flame graph: ${answer.error}` };
  return { type: "graphs", graphs: answer.graphs ?? [], message: answer.message || "No flame graph for the current selection." };
}

export type OpenTarget = { path: string; line: number } | { error: string };

/** What a click in the webview asks to open: an absolute file path and a 1-based line. The webview is
 *  not trusted with more: anything else is refused with a reason the user can act on. */
export function openTarget(msg: unknown): OpenTarget {
  if (!msg || typeof msg !== "object") return { error: "not a message" };
  const m = msg as { type?: unknown; path?: unknown; line?: unknown; file?: unknown; function?: unknown };
  if (m.type !== "open") return { error: `not an open request: ${String(m.type)}` };
  const what = typeof m.function === "string" ? m.function : "the frame";
  if (typeof m.path !== "string" || !m.path) {
    const file = typeof m.file === "string" && m.file ? m.file : "(no file)";
    return { error: `${what}: ${file} is not a file on this machine (see "harness.pathMappings")` };
  }
  if (!path.isAbsolute(m.path)) return { error: `${what}: ${m.path} is not an absolute path` };
  const line = typeof m.line === "number" && Number.isInteger(m.line) && m.line >= 1 ? m.line : 1;
  return { path: m.path, line };
}
