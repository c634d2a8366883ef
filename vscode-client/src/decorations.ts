// Paints heat on editors: gutter bar, line background, overview-ruler mark.
// One decoration type per heat level, created once; plans come from heat.ts.
import * as vscode from "vscode";
import { HEAT_LEVELS, HeatPlan, gutterSvg, levelStyle, planHeat } from "./heat";
import type { HeatParams } from "./protocol";

export interface PaintOptions {
  gutter: boolean;
  lineBackground: boolean;
  overviewRuler: boolean;
}

const STALE_COLOR = "#8a8a8a";

function key(uri: vscode.Uri | string): string {
  return (typeof uri === "string" ? vscode.Uri.parse(uri) : uri).toString();
}

export class HeatPainter implements vscode.Disposable {
  private levelTypes: vscode.TextEditorDecorationType[] = [];
  private staleType: vscode.TextEditorDecorationType | null = null;
  private readonly heat = new Map<string, HeatParams>();
  private enabled = true;

  constructor(private options: PaintOptions) {
    this.createTypes();
  }

  private createTypes(): void {
    this.disposeTypes();
    const o = this.options;
    for (let level = 0; level < HEAT_LEVELS; level++) {
      const s = levelStyle(level);
      this.levelTypes.push(vscode.window.createTextEditorDecorationType({
        isWholeLine: true,
        rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
        gutterIconPath: o.gutter ? vscode.Uri.parse(gutterSvg(s.gutterColor)) : undefined,
        gutterIconSize: "contain",
        overviewRulerColor: o.overviewRuler ? s.rulerColor : undefined,
        overviewRulerLane: vscode.OverviewRulerLane.Right,
        light: o.lineBackground ? { backgroundColor: s.background.light } : {},
        dark: o.lineBackground ? { backgroundColor: s.background.dark } : {},
      }));
    }
    this.staleType = vscode.window.createTextEditorDecorationType({
      isWholeLine: true,
      gutterIconPath: o.gutter ? vscode.Uri.parse(gutterSvg(STALE_COLOR, true)) : undefined,
      gutterIconSize: "contain",
      overviewRulerColor: o.overviewRuler ? "rgba(138, 138, 138, 0.7)" : undefined,
      overviewRulerLane: vscode.OverviewRulerLane.Right,
      after: { contentText: "  (changed since the run)", color: new vscode.ThemeColor("editorCodeLens.foreground"), fontStyle: "italic" },
    });
  }

  private disposeTypes(): void {
    for (const t of this.levelTypes) t.dispose();
    this.levelTypes = [];
    this.staleType?.dispose();
    this.staleType = null;
  }

  /** Change what is painted (settings `harness.heat.*`), repainting every visible editor. */
  setOptions(options: PaintOptions): void {
    this.options = options;
    this.createTypes();
    this.repaintAll();
  }

  /** Master switch, following the server's `enabled` status. */
  setEnabled(enabled: boolean): void {
    if (enabled === this.enabled) return;
    this.enabled = enabled;
    this.repaintAll();
  }

  /** Store a `harness/heat` notification and paint it on the editors showing that document. */
  update(params: HeatParams): void {
    if (!params || typeof params.uri !== "string") return;
    const k = key(params.uri);
    if (!params.lines || params.lines.length === 0) this.heat.delete(k);
    else this.heat.set(k, params);
    for (const e of vscode.window.visibleTextEditors) {
      if (key(e.document.uri) === k) this.paint(e);
    }
  }

  /** Forget everything (server restart) and clear the editors. */
  clear(): void {
    this.heat.clear();
    this.repaintAll();
  }

  repaintAll(): void {
    for (const e of vscode.window.visibleTextEditors) this.paint(e);
  }

  /** The plan last painted for a document, if any. */
  planFor(uri: vscode.Uri): HeatPlan | null {
    const p = this.heat.get(key(uri));
    return p ? planHeat(p) : null;
  }

  paint(editor: vscode.TextEditor): void {
    const params = this.enabled ? this.heat.get(key(editor.document.uri)) : undefined;
    const plan = params ? planHeat(params, editor.document.lineCount) : null;
    const ranges = (lines: number[]) => lines.map((l) => new vscode.Range(l, 0, l, 0));
    this.levelTypes.forEach((t, level) => editor.setDecorations(t, plan ? ranges(plan.levels[level]) : []));
    if (this.staleType) editor.setDecorations(this.staleType, plan ? ranges(plan.stale) : []);
  }

  dispose(): void {
    this.disposeTypes();
    this.heat.clear();
  }
}
