// "Harness: Show Flame Graph": a webview panel with the flame graph of the current run, phase,
// profile and sample type (the diff when comparing), from the server's harness.flameGraph. It follows
// the status bar: every harness/status redraws it. A click on a frame opens its file at its line.
import * as fs from "node:fs";
import * as vscode from "vscode";
import { FLAME_VIEW_TYPE, VIEWER_FILE, flameHtml, graphsMessage, openTarget, panelTitle } from "./flamemodel";
import { FlameGraphAnswer, ServerCommand, StatusParams } from "./protocol";
import { ServerManager } from "./server";

export interface FlameContext {
  server: ServerManager;
  status(): StatusParams | null;
  extensionUri: vscode.Uri;
}

export class FlamePanel implements vscode.Disposable {
  private panel: vscode.WebviewPanel | null = null;
  private last: ReturnType<typeof graphsMessage> | null = null;
  private seq = 0;

  constructor(private readonly ctx: FlameContext) {}

  /** Open the panel (or bring it forward) and draw the current selection. */
  async show(): Promise<void> {
    if (this.panel) {
      this.panel.reveal(undefined, false);
    } else {
      this.panel = this.create();
    }
    await this.refresh();
  }

  /** The selection changed (harness/status): redraw when the panel is open. */
  onStatus(): void {
    if (!this.panel) return;
    this.panel.title = panelTitle(this.ctx.status());
    void this.refresh();
  }

  async refresh(): Promise<void> {
    const panel = this.panel;
    if (!panel) return;
    const seq = ++this.seq;
    let answer: FlameGraphAnswer | { error: string };
    try {
      answer = await this.ctx.server.command<FlameGraphAnswer | { error: string }>(ServerCommand.flameGraph);
    } catch (err) {
      answer = { error: err instanceof Error ? err.message : String(err) };
    }
    if (seq !== this.seq || panel !== this.panel) return;   // a newer request, or the panel is gone
    this.last = graphsMessage(answer);
    void panel.webview.postMessage(this.last);
  }

  private create(): vscode.WebviewPanel {
    const dist = vscode.Uri.joinPath(this.ctx.extensionUri, "dist");
    const column = vscode.window.activeTextEditor ? vscode.ViewColumn.Beside : vscode.ViewColumn.Active;
    const panel = vscode.window.createWebviewPanel(FLAME_VIEW_TYPE, panelTitle(this.ctx.status()), column, {
      enableScripts: true,
      localResourceRoots: [dist],
    });
    const script = vscode.Uri.joinPath(dist, VIEWER_FILE);
    if (!fs.existsSync(script.fsPath)) {
      void vscode.window.showErrorMessage(`Harness: the flame graph viewer ${script.fsPath} is missing from the extension; rebuild it (npm run bundle).`);
    }
    panel.webview.html = flameHtml({
      cspSource: panel.webview.cspSource,
      scriptUri: panel.webview.asWebviewUri(script).toString(),
      title: panelTitle(this.ctx.status()),
    });
    panel.webview.onDidReceiveMessage((msg: { type?: string }) => {
      if (msg && msg.type === "ready") {
        if (this.last) void panel.webview.postMessage(this.last);
      } else if (msg && msg.type === "open") {
        void this.open(msg, panel);
      }
    });
    panel.onDidDispose(() => {
      if (this.panel === panel) this.panel = null;
      this.last = null;
    });
    return panel;
  }

  /** Open a frame's file at its line, in the editor column beside the panel. */
  private async open(msg: unknown, panel: vscode.WebviewPanel): Promise<void> {
    const target = openTarget(msg);
    if ("error" in target) {
      void vscode.window.showWarningMessage(`Harness: cannot open ${target.error}.`);
      return;
    }
    const doc = await vscode.workspace.openTextDocument(vscode.Uri.file(target.path));
    const pos = new vscode.Position(target.line - 1, 0);
    const column = panel.viewColumn === vscode.ViewColumn.One ? vscode.ViewColumn.Two : vscode.ViewColumn.One;
    await vscode.window.showTextDocument(doc, { viewColumn: column, selection: new vscode.Range(pos, pos), preserveFocus: false });
  }

  dispose(): void {
    this.panel?.dispose();
    this.panel = null;
  }
}
