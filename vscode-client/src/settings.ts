// Settings resolution: the VS Code settings `harness.*` -> the object sent to the
// server as initializationOptions and in workspace/didChangeConfiguration, plus
// the client's own settings. Pure: reads values through a getter.

export type Mode = "own" | "flat" | "cum";
export type StaleMode = "mark" | "hide";

export interface PathMapping {
  from: string;
  to: string;
}

/** The keys the server understands (docs/DESIGN.md), with their defaults. */
export interface ServerSettings {
  runsDir: string;
  run: string | null;
  profile: string;
  sampleType: string | null;
  phase: string | null;
  mode: Mode;
  threshold: number;
  annotations: boolean;
  inlayHints: boolean;
  codeLens: boolean;
  diagnostics: boolean;
  hover: boolean;
  diagnosticsTopN: number;
  pathMappings: PathMapping[];
  staleMode: StaleMode;
  pollInterval: number;
  maxProfileMiB: number;
}

export const SERVER_DEFAULTS: Readonly<ServerSettings> = Object.freeze({
  runsDir: "runs",
  run: null,
  profile: "cpu",
  sampleType: null,
  phase: null,
  mode: "own",
  threshold: 0.01,
  annotations: true,
  inlayHints: true,
  codeLens: true,
  diagnostics: true,
  hover: true,
  diagnosticsTopN: 10,
  pathMappings: [],
  staleMode: "mark",
  pollInterval: 2.0,
  maxProfileMiB: 256,
});

/** Settings only the client uses. */
export interface ClientSettings {
  pythonPath: string | null;
  heatGutter: boolean;
  heatLineBackground: boolean;
  heatOverviewRuler: boolean;
}

export interface Resolved<T> {
  value: T;
  /** One readable line per value that was rejected and replaced by its default. */
  problems: string[];
}

/** Reads `harness.<key>`; returns undefined when the user has not set it. */
export type Getter = (key: string) => unknown;

const MODES: readonly Mode[] = ["own", "flat", "cum"];
const STALE_MODES: readonly StaleMode[] = ["mark", "hide"];

/** Replace `${workspaceFolder}` (the first folder) in a path-like setting. */
export function expandWorkspaceFolder(value: string, workspaceFolder: string | null): string {
  if (workspaceFolder === null) return value;
  return value.split("${workspaceFolder}").join(workspaceFolder);
}

class Reader {
  readonly problems: string[] = [];
  constructor(private readonly get: Getter) {}

  private reject(key: string, seen: unknown, expected: string): void {
    this.problems.push(`harness.${key}: expected ${expected}, got ${JSON.stringify(seen)}; using the default.`);
  }

  string<T extends string | null>(key: string, fallback: T, allowEmptyAsNull = false): string | T {
    const v = this.get(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "string") {
      this.reject(key, v, "a string");
      return fallback;
    }
    if (v.trim() === "") return allowEmptyAsNull ? (null as T) : fallback;
    return v.trim();
  }

  optionalString(key: string): string | null {
    return this.string<string | null>(key, null, true);
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.get(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "boolean") {
      this.reject(key, v, "true or false");
      return fallback;
    }
    return v;
  }

  number(key: string, fallback: number, min: number, max: number, integer = false): number {
    const v = this.get(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
      const range = max === Infinity ? `>= ${min}` : `${min}..${max}`;
      this.reject(key, v, `${integer ? "an integer" : "a number"} in ${range}`);
      return fallback;
    }
    return v;
  }

  oneOf<T extends string>(key: string, allowed: readonly T[], fallback: T): T {
    const v = this.get(key);
    if (v === undefined || v === null) return fallback;
    if (typeof v !== "string" || !(allowed as readonly string[]).includes(v)) {
      this.reject(key, v, `one of ${allowed.join(", ")}`);
      return fallback;
    }
    return v as T;
  }

  mappings(key: string, workspaceFolder: string | null): PathMapping[] {
    const v = this.get(key);
    if (v === undefined || v === null) return [];
    if (!Array.isArray(v)) {
      this.reject(key, v, "a list of {\"from\", \"to\"} objects");
      return [];
    }
    const out: PathMapping[] = [];
    v.forEach((item: unknown, i: number) => {
      const m = item as { from?: unknown; to?: unknown } | null;
      if (m && typeof m === "object" && typeof m.from === "string" && typeof m.to === "string" && m.from !== "") {
        out.push({ from: expandWorkspaceFolder(m.from, workspaceFolder), to: expandWorkspaceFolder(m.to, workspaceFolder) });
      } else {
        this.problems.push(`harness.${key}[${i}]: expected {"from": "<path in profile>", "to": "<local path>"}, got ${JSON.stringify(item)}; entry ignored.`);
      }
    });
    return out;
  }
}

/** Resolve the server's settings; invalid values fall back to their defaults and are reported. */
export function resolveServerSettings(get: Getter, workspaceFolder: string | null): Resolved<ServerSettings> {
  const r = new Reader(get);
  const d = SERVER_DEFAULTS;
  const value: ServerSettings = {
    runsDir: expandWorkspaceFolder(r.string("runsDir", d.runsDir), workspaceFolder),
    run: r.optionalString("run"),
    profile: expandWorkspaceFolder(r.string("profile", d.profile), workspaceFolder),
    sampleType: r.optionalString("sampleType"),
    phase: r.optionalString("phase"),
    mode: r.oneOf("mode", MODES, d.mode),
    threshold: r.number("threshold", d.threshold, 0, 1),
    annotations: r.bool("annotations", d.annotations),
    inlayHints: r.bool("inlayHints", d.inlayHints),
    codeLens: r.bool("codeLens", d.codeLens),
    diagnostics: r.bool("diagnostics", d.diagnostics),
    hover: r.bool("hover", d.hover),
    diagnosticsTopN: r.number("diagnosticsTopN", d.diagnosticsTopN, 0, Infinity, true),
    pathMappings: r.mappings("pathMappings", workspaceFolder),
    staleMode: r.oneOf("staleMode", STALE_MODES, d.staleMode),
    pollInterval: r.number("pollInterval", d.pollInterval, 0.2, Infinity),
    maxProfileMiB: r.number("maxProfileMiB", d.maxProfileMiB, 1, 1048576),
  };
  return { value, problems: r.problems };
}

/** Resolve the client's own settings. */
export function resolveClientSettings(get: Getter, workspaceFolder: string | null): Resolved<ClientSettings> {
  const r = new Reader(get);
  const python = r.optionalString("pythonPath");
  const value: ClientSettings = {
    pythonPath: python === null ? null : expandWorkspaceFolder(python, workspaceFolder),
    heatGutter: r.bool("heat.gutter", true),
    heatLineBackground: r.bool("heat.lineBackground", true),
    heatOverviewRuler: r.bool("heat.overviewRuler", true),
  };
  return { value, problems: r.problems };
}

/** The payload of workspace/didChangeConfiguration the server expects. */
export function configurationPayload(settings: ServerSettings): { settings: { harness: ServerSettings } } {
  return { settings: { harness: settings } };
}

/** Which part of the client a settings change affects. */
export type ChangeEffect = "restart" | "resend" | "repaint";

/** Decide what to do when settings change; `affects(key)` tells whether `harness.<key>` changed. */
export function changeEffects(affects: (key: string) => boolean): Set<ChangeEffect> {
  const effects = new Set<ChangeEffect>();
  if (affects("pythonPath")) effects.add("restart");
  if ((Object.keys(SERVER_DEFAULTS) as string[]).some(affects)) effects.add("resend");
  if (affects("heat")) effects.add("repaint");
  return effects;
}
