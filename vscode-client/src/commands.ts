// The `harness.*` commands of the command palette. Each is a thin step over
// a server command and a quick-pick model from models.ts.
import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  Item, MenuAction, NEWEST_RUN_ITEM, baselineItems, hotLineItems, phaseItems, profileItems, runItems, statusMenuItems,
} from "./models";
import { HotLine, ProfileEntry, RunEntry, ServerCommand, StatusParams } from "./protocol";
import { harnessCommand } from "./python";
import { ServerManager, workspaceFolderPaths } from "./server";

export interface CommandContext {
  server: ServerManager;
  status(): StatusParams | null;
  setEnabled(enabled: boolean): void;
}

type QuickItem<T> = vscode.QuickPickItem & { value: T };

async function pick<T>(items: Item<T>[], placeHolder: string): Promise<Item<T> | undefined> {
  const chosen = await vscode.window.showQuickPick(items.map((i): QuickItem<T> => ({ ...i })), { placeHolder, matchOnDescription: true, matchOnDetail: true });
  return chosen;
}

function report(err: unknown, what: string): void {
  const msg = err instanceof Error ? err.message : String(err);
  void vscode.window.showErrorMessage(`Harness: ${what} failed: ${msg}`);
}

async function currentRun(ctx: CommandContext): Promise<{ runs: RunEntry[]; run: RunEntry | null }> {
  const runs = await ctx.server.command<RunEntry[]>(ServerCommand.listRuns);
  const id = ctx.status()?.run ?? null;
  return { runs, run: runs.find((r) => r.id === id) ?? null };
}

export async function pickRun(ctx: CommandContext): Promise<void> {
  const runs = await ctx.server.command<RunEntry[]>(ServerCommand.listRuns);
  if (runs.length === 0) {
    void vscode.window.showInformationMessage("Harness: no runs yet in the runs folder. Run a scenario first (\"Harness: Run Scenario\").");
    return;
  }
  const choice = await pick([NEWEST_RUN_ITEM, ...runItems(runs, ctx.status()?.run ?? null)], "Show the costs of which run?");
  if (!choice) return;
  await ctx.server.command(ServerCommand.selectRun, { run: choice.value });
  ctx.server.remember({ run: choice.value });
}

export async function pickProfile(ctx: CommandContext): Promise<void> {
  const profiles = await ctx.server.command<ProfileEntry[]>(ServerCommand.listProfiles);
  if (profiles.length === 0) {
    void vscode.window.showInformationMessage("Harness: the current run has no profiles.");
    return;
  }
  const choice = await pick(profileItems(profiles, ctx.status()), "Which profile and sample type?");
  if (!choice) return;
  await ctx.server.command(ServerCommand.selectProfile, choice.value);
  ctx.server.remember({ profile: choice.value.profile, sampleType: choice.value.sampleType });
}

export async function pickPhase(ctx: CommandContext): Promise<void> {
  const { run } = await currentRun(ctx);
  if (!run) {
    void vscode.window.showInformationMessage("Harness: no run is selected; pick one first.");
    return;
  }
  const choice = await pick(phaseItems(run.phases, ctx.status()?.phase ?? null), `Phase of ${run.id}`);
  if (!choice) return;
  await ctx.server.command(ServerCommand.selectPhase, { phase: choice.value });
  ctx.server.remember({ phase: choice.value });
}

export async function compareWithBaseline(ctx: CommandContext): Promise<void> {
  const { run } = await currentRun(ctx);
  const items = run ? baselineItems(run.phases, ctx.status()?.phase ?? null) : [];
  if (items.length === 0) {
    void vscode.window.showInformationMessage("Harness: the current run has no other phase to compare with. Use \"Compare With Run…\".");
    return;
  }
  const choice = items.length === 1 ? items[0] : await pick(items, "Compare the current phase with which phase?");
  if (!choice) return;
  await ctx.server.command(ServerCommand.compare, { baseline: choice.value });
  ctx.server.rememberCompare({ baseline: choice.value });
}

export async function compareWithRun(ctx: CommandContext): Promise<void> {
  const runs = await ctx.server.command<RunEntry[]>(ServerCommand.listRuns);
  const items = runItems(runs, null, ctx.status()?.run ?? null);
  if (items.length === 0) {
    void vscode.window.showInformationMessage("Harness: there is no other run to compare with.");
    return;
  }
  const choice = await pick(items, "Compare the current run with which run?");
  if (!choice || !choice.value) return;
  await ctx.server.command(ServerCommand.compare, { run: choice.value });
  ctx.server.rememberCompare({ run: choice.value });
}

/** The run's production profile of the kind shown (the scenario's production.profiles) as the base. */
export async function compareWithProduction(ctx: CommandContext): Promise<void> {
  await ctx.server.command(ServerCommand.compare, { production: true });
  ctx.server.rememberCompare({ production: true });
}

export async function compareOff(ctx: CommandContext): Promise<void> {
  await ctx.server.command(ServerCommand.compare, { off: true });
  ctx.server.rememberCompare(null);
}

export async function toggleAnnotations(ctx: CommandContext): Promise<void> {
  const before = ctx.status()?.enabled ?? true;
  const answer = await ctx.server.command<Partial<StatusParams> | null>(ServerCommand.toggle, { enabled: !before });
  const enabled = answer && typeof answer.enabled === "boolean" ? answer.enabled : !before;
  ctx.setEnabled(enabled);
  ctx.server.remember({ annotations: enabled });
}

export async function showHottestLines(ctx: CommandContext): Promise<void> {
  const lines = await ctx.server.command<HotLine[]>(ServerCommand.hotLines, { limit: 50 });
  if (lines.length === 0) {
    void vscode.window.showInformationMessage("Harness: no hot lines in your workspace for the current profile (check the threshold, or \"pathMappings\" if the profile was taken elsewhere).");
    return;
  }
  const choice = await pick(hotLineItems(lines, workspaceFolderPaths()), "Hottest lines of your code");
  if (!choice) return;
  const doc = await vscode.workspace.openTextDocument(vscode.Uri.parse(choice.value.uri));
  const pos = new vscode.Position(choice.value.line, 0);
  await vscode.window.showTextDocument(doc, { selection: new vscode.Range(pos, pos) });
}

export async function openReport(ctx: CommandContext): Promise<void> {
  const runPath = ctx.status()?.runPath;
  if (!runPath) {
    void vscode.window.showInformationMessage("Harness: no run is selected; pick one with \"Harness: Pick Run\".");
    return;
  }
  const file = path.join(runPath, "report.html");
  if (!fs.existsSync(file)) {
    void vscode.window.showWarningMessage(`Harness: ${file} does not exist: the run has not finished, or its report failed. Rebuild it with \`harness report ${runPath}\`.`);
    return;
  }
  await vscode.env.openExternal(vscode.Uri.file(file));
}

const SCENARIO_GLOB = "**/scenarios/**/*.{yaml,yml}";

function isScenario(doc: vscode.TextDocument | undefined): boolean {
  return !!doc && doc.uri.scheme === "file" && /\.ya?ml$/.test(doc.fileName) && /[\\/]scenarios[\\/]/.test(doc.fileName);
}

export async function runScenario(ctx: CommandContext, uri?: vscode.Uri): Promise<void> {
  let file = uri?.fsPath;
  const active = vscode.window.activeTextEditor?.document;
  if (!file && isScenario(active)) file = active!.fileName;
  if (!file) {
    const found = await vscode.workspace.findFiles(SCENARIO_GLOB, "**/node_modules/**", 200);
    if (found.length === 0) {
      void vscode.window.showInformationMessage("Harness: no scenario files (scenarios/*.yaml) in the workspace.");
      return;
    }
    const folders = workspaceFolderPaths();
    const items = found.map((u) => ({ label: path.basename(u.fsPath), description: path.relative(folders[0] ?? "", path.dirname(u.fsPath)), value: u.fsPath }));
    const choice = await pick(items, "Run which scenario?");
    if (!choice) return;
    file = choice.value;
  }
  const doc = vscode.workspace.textDocuments.find((d) => d.fileName === file);
  if (doc?.isDirty) await doc.save();
  const python = ctx.server.interpreterInUse ?? ctx.server.python();
  const cmd = harnessCommand(python.command, (p) => fs.existsSync(p), process.platform);
  const folder = vscode.workspace.getWorkspaceFolder(vscode.Uri.file(file)) ?? vscode.workspace.workspaceFolders?.[0];
  // The run lands where the server looks for runs (harness.runsDir, relative to the workspace folder).
  const runsDir = path.resolve(folder?.uri.fsPath ?? path.dirname(file), ctx.server.serverSettings().runsDir);
  const task = new vscode.Task(
    { type: "harness", scenario: file },
    folder ?? vscode.TaskScope.Workspace,
    `run ${path.basename(file)}`,
    "harness",
    new vscode.ProcessExecution(cmd.command, [...cmd.args, "run", file, "--runs-dir", runsDir], { cwd: folder?.uri.fsPath }),
  );
  task.presentationOptions = { reveal: vscode.TaskRevealKind.Always, panel: vscode.TaskPanelKind.Dedicated, clear: true };
  const execution = await vscode.tasks.executeTask(task);
  const done = vscode.tasks.onDidEndTaskProcess(async (e) => {
    if (e.execution !== execution) return;
    done.dispose();
    try {
      await ctx.server.command(ServerCommand.reload);
    } catch (err) {
      ctx.server.output.warn(`Reload after the run: ${err instanceof Error ? err.message : String(err)}`);
    }
    if (e.exitCode === 0) {
      const c = await vscode.window.showInformationMessage(`Harness: ${path.basename(file!)} finished; its costs are on your code.`, "Open Report", "Show Hottest Lines");
      if (c === "Open Report") await openReport(ctx);
      if (c === "Show Hottest Lines") await showHottestLines(ctx);
    } else {
      void vscode.window.showWarningMessage(`Harness: ${path.basename(file!)} ended with exit code ${e.exitCode}; the terminal shows why.`);
    }
  });
}

/** The menu behind the status bar item. */
export async function showStatusMenu(ctx: CommandContext): Promise<void> {
  const choice = await pick(statusMenuItems(ctx.status(), ctx.server.state), "Harness");
  if (choice) await vscode.commands.executeCommand(`harness.${choice.value}`);
}

/** Register every command; errors become messages instead of silent failures. */
export function registerCommands(ctx: CommandContext, extra: Record<string, () => unknown>): vscode.Disposable[] {
  const table: Record<MenuAction | "showStatusMenu", (...args: never[]) => unknown> = {
    pickRun: () => pickRun(ctx),
    pickProfile: () => pickProfile(ctx),
    pickPhase: () => pickPhase(ctx),
    compareWithBaseline: () => compareWithBaseline(ctx),
    compareWithRun: () => compareWithRun(ctx),
    compareWithProduction: () => compareWithProduction(ctx),
    compareOff: () => compareOff(ctx),
    toggleAnnotations: () => toggleAnnotations(ctx),
    showHottestLines: () => showHottestLines(ctx),
    openReport: () => openReport(ctx),
    runScenario: (uri?: vscode.Uri) => runScenario(ctx, uri instanceof vscode.Uri ? uri : undefined),
    showStatusMenu: () => showStatusMenu(ctx),
    showFlameGraph: () => extra.showFlameGraph(),
    restartServer: () => extra.restartServer(),
    showLog: () => extra.showLog(),
  };
  return Object.entries(table).map(([name, fn]) =>
    vscode.commands.registerCommand(`harness.${name}`, async (...args: never[]) => {
      try {
        await fn(...args);
      } catch (err) {
        report(err, name);
      }
    }),
  );
}
