// Starts harness-lsp (`<python> -m lsp`) over stdio with vscode-languageclient,
// passes settings as initializationOptions, re-sends them on change, and restarts
// on demand (restarts are coalesced).
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";
import { Coalescer } from "./coalesce";
import { HEAT_NOTIFICATION, HeatParams, STATUS_NOTIFICATION, ServerCommand, StatusParams } from "./protocol";
import { Interpreter, diagnose, findInterpreter, probe } from "./python";
import { ServerState } from "./models";
import { configurationPayload, resolveClientSettings, resolveServerSettings, ServerSettings } from "./settings";

export interface ServerEvents {
  onHeat(params: HeatParams): void;
  onStatus(params: StatusParams): void;
  onState(state: ServerState): void;
}

export function workspaceFolderPaths(): string[] {
  return (vscode.workspace.workspaceFolders ?? []).filter((f) => f.uri.scheme === "file").map((f) => f.uri.fsPath);
}

function getter(): (key: string) => unknown {
  const cfg = vscode.workspace.getConfiguration("harness");
  return (k: string) => {
    const i = cfg.inspect(k);
    // Only values the user set; defaults come from settings.ts so both sides agree.
    return i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
  };
}

export class ServerManager implements vscode.Disposable {
  private client: LanguageClient | null = null;
  private interpreter: Interpreter | null = null;
  private readonly restarter = new Coalescer(() => this.restartNow());
  private disposed = false;
  private choices: Partial<ServerSettings> = {};
  private compare: object | null = null;
  state: ServerState = "stopped";

  constructor(readonly output: vscode.LogOutputChannel, private readonly events: ServerEvents) {}

  /** Settings, with the choices made from the editor this session on top (they survive restarts). */
  serverSettings(): ServerSettings {
    const folder = workspaceFolderPaths()[0] ?? null;
    const r = resolveServerSettings(getter(), folder);
    for (const p of r.problems) this.output.warn(p);
    return { ...r.value, ...this.choices };
  }

  /** Remember a choice made with a command (run, profile, phase, annotations) for later restarts. */
  remember(choice: Partial<ServerSettings>): void {
    this.choices = { ...this.choices, ...choice };
  }

  /** Remember the compare mode (null = off); it is not a setting, so it is re-sent as a command after a start. */
  rememberCompare(compare: object | null): void {
    this.compare = compare;
  }

  /** Forget the editor's choices when the user edits the same settings. */
  forgetChoices(affects: (key: string) => boolean): void {
    for (const k of Object.keys(this.choices) as (keyof ServerSettings)[]) {
      if (affects(k)) delete this.choices[k];
    }
  }

  python(): Interpreter {
    const folders = workspaceFolderPaths();
    const r = resolveClientSettings(getter(), folders[0] ?? null);
    for (const p of r.problems) this.output.warn(p);
    return findInterpreter(r.value.pythonPath, folders);
  }

  private setState(s: ServerState): void {
    this.state = s;
    this.events.onState(s);
  }

  /** Start the server; on a missing interpreter or package, say so with a fix and stay stopped. */
  async start(): Promise<void> {
    if (this.disposed || this.client) return;
    this.setState("starting");
    const interp = this.python();
    this.interpreter = interp;
    const cwd = workspaceFolderPaths()[0];
    this.output.info(`Interpreter: ${interp.command} (from ${interp.source})`);
    const problem = diagnose(interp, await probe(interp.command, cwd));
    if (problem) {
      this.output.error(`${problem.message} ${problem.fix}`);
      this.setState("failed");
      void vscode.window.showErrorMessage(`${problem.message} ${problem.fix}`, "Open Settings", "Show Log").then((choice) => {
        if (choice === "Open Settings") void vscode.commands.executeCommand("workbench.action.openSettings", "harness.pythonPath");
        if (choice === "Show Log") this.output.show();
      });
      return;
    }
    const serverOptions: ServerOptions = {
      command: interp.command,
      args: ["-m", "lsp"],
      transport: TransportKind.stdio,
      options: { cwd, env: { ...process.env, PYTHONUNBUFFERED: "1" } },
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: "file", language: "go" }],
      initializationOptions: this.serverSettings(),
      outputChannel: this.output,
      traceOutputChannel: this.output,
      // Settings are sent by sendSettings() in the shape the server expects.
      synchronize: {},
    };
    const client = new LanguageClient("harness", "Harness Language Server", serverOptions, clientOptions);
    client.onNotification(HEAT_NOTIFICATION, (p: HeatParams) => this.events.onHeat(p));
    client.onNotification(STATUS_NOTIFICATION, (p: StatusParams) => this.events.onStatus(p));
    client.onDidChangeState((e) => {
      if (e.newState === State.Running) this.setState("running");
      else if (e.newState === State.Stopped && this.client === client) this.setState("stopped");
    });
    this.client = client;
    try {
      await client.start();
      this.output.info(`Server running: ${interp.command} -m lsp`);
      this.setState("running");
      if (this.compare) await this.command(ServerCommand.compare, this.compare);
    } catch (err) {
      this.client = null;
      this.setState("failed");
      const msg = `Harness: the language server (${interp.command} -m lsp) did not start: ${err instanceof Error ? err.message : String(err)}`;
      this.output.error(msg);
      void vscode.window.showErrorMessage(`${msg} See the "Harness" output for its log.`, "Show Log").then((c) => {
        if (c) this.output.show();
      });
    }
  }

  async stop(): Promise<void> {
    const c = this.client;
    this.client = null;
    if (c) {
      try {
        await c.stop(5000);
      } catch (err) {
        this.output.warn(`Stopping the server: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    this.setState("stopped");
  }

  /** Restart; requests that arrive while one is going result in one more restart. */
  restart(): Promise<void> {
    return this.restarter.request();
  }

  private async restartNow(): Promise<void> {
    this.output.info("Restarting the server");
    await this.stop();
    await this.start();
  }

  /** Send the resolved settings (workspace/didChangeConfiguration). */
  async sendSettings(): Promise<void> {
    if (!this.client || this.state !== "running") return;
    await this.client.sendNotification(DidChangeConfigurationNotification.type, configurationPayload(this.serverSettings()));
  }

  get running(): boolean {
    return this.client !== null && this.state === "running";
  }

  get interpreterInUse(): Interpreter | null {
    return this.interpreter;
  }

  /** Run one of the server's `harness.*` commands; throws a readable error when the server is not running. */
  async command<T>(command: string, args?: object): Promise<T> {
    if (!this.client || this.state !== "running") {
      throw new Error("the harness language server is not running (run \"Harness: Restart Server\"; its log is in the \"Harness\" output)");
    }
    return (await this.client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args === undefined ? [] : [args] })) as T;
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    await this.stop();
  }
}
