// Quick-pick and status-bar models: server answers -> items to show. Pure: no vscode import.
import * as path from "node:path";
import type { HotLine, PhaseEntry, ProfileEntry, RunEntry, StatusParams } from "./protocol";

/** A quick-pick item with the value it stands for. */
export interface Item<T> {
  label: string;
  description?: string;
  detail?: string;
  value: T;
}

export type ServerState = "starting" | "running" | "stopped" | "failed";

export function phaseName(p: PhaseEntry): string {
  return typeof p === "string" ? p : p.name;
}

/** Describe the compare mode of a status; null when not comparing. */
export function compareLabel(compare: unknown): string | null {
  if (compare === null || compare === undefined || compare === false || compare === "") return null;
  if (typeof compare === "string") return compare;
  if (typeof compare === "object") {
    const c = compare as { baseline?: unknown; run?: unknown; off?: unknown; production?: unknown; profile?: unknown };
    if (c.off) return null;
    if (typeof c.baseline === "string") return `phase ${c.baseline}`;
    if (typeof c.run === "string") return `run ${c.run}`;
    if (c.production === true) return "production";
    if (typeof c.profile === "string") return `profile ${c.profile}`;
  }
  return JSON.stringify(compare);
}

function shorten(s: string, max: number): string {
  return s.length <= max ? s : s.slice(0, max - 1) + "…";
}

export interface StatusBarModel {
  text: string;
  tooltip: string;
}

/** Text of the status bar item: run, profile and sample type, phase or diff mode. */
export function statusBar(status: StatusParams | null, state: ServerState): StatusBarModel {
  if (state === "failed") return { text: "$(error) Harness", tooltip: "The harness language server is not running. Click for the options, or run \"Harness: Restart Server\"." };
  if (state === "starting") return { text: "$(sync~spin) Harness", tooltip: "Starting the harness language server…" };
  if (state === "stopped") return { text: "$(debug-stop) Harness", tooltip: "The harness language server is stopped." };
  if (!status) return { text: "$(flame) Harness", tooltip: "Waiting for the server's status…" };
  if (!status.run && !status.profile) {
    return { text: "$(flame) Harness: no run", tooltip: status.message ?? "No run found in the runs folder. Run a scenario (\"Harness: Run Scenario\")." };
  }
  // `message` is always set (what is shown, or why nothing is); no sample type means nothing loaded.
  const loaded = status.sampleType !== null && status.sampleType !== undefined;
  const icon = !status.enabled ? "$(eye-closed)" : loaded ? "$(flame)" : "$(warning)";
  const profile = [status.profile, status.sampleType].filter(Boolean).join(":");
  const cmp = compareLabel(status.compare);
  const where = cmp ? `Δ ${cmp}` : status.phase ?? "";
  const parts = [shorten(status.run ?? "(file)", 40), profile, where].filter((p) => p !== "");
  const tooltip = [
    `Run: ${status.run ?? "(none)"}`,
    `Profile: ${status.profile ?? "(none)"}${status.sampleType ? ` (${status.sampleType})` : ""}`,
    `Phase: ${status.phase ?? "(default)"}`,
    cmp ? `Comparing with ${cmp}` : null,
    status.enabled ? null : "Annotations are off (\"Harness: Toggle Annotations\").",
    status.message,
    "Click to change.",
  ].filter((x): x is string => !!x);
  return { text: `${icon} ${parts.join(" · ")}`, tooltip: tooltip.join("\n") };
}

/** Runs, newest first; the first item follows the newest run. `null` = newest. */
export function runItems(runs: readonly RunEntry[], current: string | null, exclude: string | null = null): Item<string | null>[] {
  const sorted = [...runs].filter((r) => r.id !== exclude).sort((a, b) => (b.wall_t0_iso ?? b.id).localeCompare(a.wall_t0_iso ?? a.id));
  const items: Item<string | null>[] = sorted.map((r) => ({
    label: r.id === current ? `$(check) ${r.id}` : r.id,
    description: [r.scenario, r.status].filter(Boolean).join(" · "),
    detail: [r.wall_t0_iso, r.phases.length ? `phases: ${r.phases.map(phaseName).join(", ")}` : null].filter(Boolean).join(" · "),
    value: r.id,
  }));
  return items;
}

export const NEWEST_RUN_ITEM: Item<string | null> = { label: "$(history) Newest run", description: "follow new runs as they land", value: null };

/** Profiles as (kind, sample type) choices; phases and services they exist for go in the description. */
export function profileItems(profiles: readonly ProfileEntry[], current: StatusParams | null): Item<{ profile: string; sampleType: string | null }>[] {
  const groups = new Map<string, { kind: string; sampleType: string | null; where: Set<string> }>();
  for (const p of profiles) {
    const types = p.sampleTypes.length ? p.sampleTypes : [null];
    for (const t of types) {
      const key = `${p.kind}\u0000${t ?? ""}`;
      const g = groups.get(key) ?? { kind: p.kind, sampleType: t, where: new Set<string>() };
      g.where.add([p.phase, p.service].filter(Boolean).join("/"));
      groups.set(key, g);
    }
  }
  return [...groups.values()].map((g) => {
    const isCurrent = current !== null && g.kind === current.profile && (g.sampleType === current.sampleType);
    const label = g.sampleType ? `${g.kind} · ${g.sampleType}` : g.kind;
    return {
      label: isCurrent ? `$(check) ${label}` : label,
      description: [...g.where].filter(Boolean).join(", "),
      value: { profile: g.kind, sampleType: g.sampleType },
    };
  });
}

/** Phases of a run; `null` = the server's default (the fault phase, else the first). */
export function phaseItems(phases: readonly PhaseEntry[], current: string | null): Item<string | null>[] {
  const items: Item<string | null>[] = [{ label: "$(sparkle) Default phase", description: "the fault phase if any, else the first", value: null }];
  for (const p of phases) {
    const name = phaseName(p);
    const o = typeof p === "string" ? null : p;
    const span = o && typeof o.start_s === "number" && typeof o.end_s === "number" ? `${o.start_s.toFixed(1)}–${o.end_s.toFixed(1)} s` : null;
    const faults = o && o.faults && o.faults.length ? `faults: ${o.faults.join(", ")}` : null;
    items.push({ label: name === current ? `$(check) ${name}` : name, description: [span, faults].filter(Boolean).join(" · "), value: name });
  }
  return items;
}

/** Phases to compare the current one with: a phase named "baseline" first, the current phase left out. */
export function baselineItems(phases: readonly PhaseEntry[], current: string | null): Item<string>[] {
  const names = phases.map(phaseName).filter((n) => n !== current);
  names.sort((a, b) => (a === "baseline" ? -1 : b === "baseline" ? 1 : 0));
  return names.map((n) => ({ label: n, value: n }));
}

/** Display path of a file URI: relative to a workspace folder when inside one. */
export function displayPath(uri: string, workspaceFolders: readonly string[]): string {
  let p = uri;
  if (uri.startsWith("file://")) {
    try {
      p = decodeURIComponent(new URL(uri).pathname);
    } catch {
      p = uri.slice("file://".length);
    }
  }
  for (const f of workspaceFolders) {
    const rel = path.relative(f, p);
    if (rel && !rel.startsWith("..") && !path.isAbsolute(rel)) return rel;
  }
  return p;
}

/** Hottest lines, hottest first, labelled `share file:line`. */
export function hotLineItems(lines: readonly HotLine[], workspaceFolders: readonly string[]): Item<HotLine>[] {
  return [...lines]
    .sort((a, b) => b.share - a.share)
    .map((l) => ({
      label: `$(flame) ${l.label}`,
      description: `${displayPath(l.uri, workspaceFolders)}:${l.line + 1}`,
      detail: l.function ?? undefined,
      value: l,
    }));
}

export type MenuAction =
  | "pickRun" | "pickProfile" | "pickPhase" | "compareWithBaseline" | "compareWithRun" | "compareWithProduction" | "compareOff"
  | "toggleAnnotations" | "showHottestLines" | "showFlameGraph" | "openReport" | "runScenario" | "restartServer" | "showLog";

/** The menu behind the status bar item, showing the current values. */
export function statusMenuItems(status: StatusParams | null, state: ServerState): Item<MenuAction>[] {
  const s = status;
  const cmp = s ? compareLabel(s.compare) : null;
  const items: Item<MenuAction>[] = [];
  if (state === "running") {
    items.push(
      { label: "$(history) Run…", description: s?.run ?? "none", value: "pickRun" },
      { label: "$(flame) Profile / Sample Type…", description: [s?.profile, s?.sampleType].filter(Boolean).join(" · ") || "none", value: "pickProfile" },
      { label: "$(list-ordered) Phase…", description: s?.phase ?? "default", value: "pickPhase" },
      { label: "$(diff) Compare With Baseline…", description: cmp ? `now: ${cmp}` : "", value: "compareWithBaseline" },
      { label: "$(diff-multiple) Compare With Run…", value: "compareWithRun" },
      { label: "$(cloud) Compare With Production", description: "the run's production profiles", value: "compareWithProduction" },
    );
    if (cmp) items.push({ label: "$(close) Stop Comparing", value: "compareOff" });
    items.push(
      { label: s && !s.enabled ? "$(eye) Show Annotations" : "$(eye-closed) Hide Annotations", value: "toggleAnnotations" },
      { label: "$(list-flat) Show Hottest Lines", value: "showHottestLines" },
      { label: "$(graph) Show Flame Graph", value: "showFlameGraph" },
      { label: "$(globe) Open Report", value: "openReport" },
    );
  }
  items.push(
    { label: "$(play) Run Scenario…", value: "runScenario" },
    { label: "$(debug-restart) Restart Server", value: "restartServer" },
    { label: "$(output) Show Server Log", value: "showLog" },
  );
  return items;
}
