// Entry point: wires the server, the heat painter, the status bar and the commands.
import * as vscode from "vscode";
import { registerCommands } from "./commands";
import { HeatPainter } from "./decorations";
import { FlamePanel } from "./flame";
import { ServerState, statusBar } from "./models";
import { StatusParams } from "./protocol";
import { ServerManager, workspaceFolderPaths } from "./server";
import { changeEffects, resolveClientSettings } from "./settings";

let manager: ServerManager | null = null;
let flame: FlamePanel | null = null;

function paintOptions() {
  const cfg = vscode.workspace.getConfiguration("harness");
  const r = resolveClientSettings((k) => cfg.get(k), workspaceFolderPaths()[0] ?? null);
  return { gutter: r.value.heatGutter, lineBackground: r.value.heatLineBackground, overviewRuler: r.value.heatOverviewRuler };
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel("Harness", { log: true });
  const painter = new HeatPainter(paintOptions());
  const item = vscode.window.createStatusBarItem("harness.status", vscode.StatusBarAlignment.Left, 50);
  item.name = "Harness";
  item.command = "harness.showStatusMenu";
  let status: StatusParams | null = null;
  let state: ServerState = "stopped";
  const render = () => {
    const m = statusBar(status, state);
    item.text = m.text;
    item.tooltip = m.tooltip;
    item.show();
  };

  const server = new ServerManager(output, {
    onHeat: (p) => painter.update(p),
    onStatus: (p) => {
      status = p;
      painter.setEnabled(p.enabled !== false);
      render();
      flame?.onStatus();
    },
    onState: (s) => {
      state = s;
      if (s !== "running") {
        status = null;
        painter.clear();
      }
      render();
    },
  });
  manager = server;
  const panel = new FlamePanel({ server, status: () => status, extensionUri: context.extensionUri });
  flame = panel;

  context.subscriptions.push(
    output, painter, item, panel,
    ...registerCommands(
      { server, status: () => status, setEnabled: (e) => painter.setEnabled(e) },
      { restartServer: () => server.restart(), showLog: () => output.show(), showFlameGraph: () => panel.show() },
    ),
    vscode.window.onDidChangeVisibleTextEditors((editors) => editors.forEach((e) => painter.paint(e))),
    vscode.workspace.onDidChangeConfiguration((e) => {
      const affects = (k: string) => e.affectsConfiguration(`harness.${k}`);
      server.forgetChoices(affects);
      const effects = changeEffects(affects);
      if (effects.has("repaint")) painter.setOptions(paintOptions());
      if (effects.has("restart")) void server.restart();
      else if (effects.has("resend")) void server.sendSettings();
    }),
  );
  render();
  // Not awaited: activation does not wait for the probe and the server; start() reports its own failures.
  void server.start();
}

export async function deactivate(): Promise<void> {
  const m = manager;
  manager = null;
  flame = null;
  if (m) await m.dispose();
}
