// The messages exchanged with harness-lsp (see docs/DESIGN.md, "Language server protocol").
// Types only: no runtime code, so the pure modules and the tests can share them.

/** One line of a `harness/heat` notification. `line` is 0-based. */
export interface HeatLine {
  line: number;
  heat: number;
  value: number;
  share: number;
  label: string;
  stale?: boolean;
}

/** `harness/heat`: the annotations of one open document; an empty `lines` list clears them. */
export interface HeatParams {
  uri: string;
  version: number | null;
  sampleType: string | null;
  unit: string | null;
  lines: HeatLine[];
}

/** `harness/status`, also the answer of `harness.status`. */
export interface StatusParams {
  run: string | null;
  runPath: string | null;
  profile: string | null;
  sampleType: string | null;
  phase: string | null;
  compare: unknown;
  enabled: boolean;
  message: string | null;
}

/** A phase as `harness.listRuns` reports it: a name, or an object with at least a name. */
export type PhaseEntry = string | { name: string; start_s?: number; end_s?: number; faults?: string[] };

/** One entry of `harness.listRuns`. */
export interface RunEntry {
  id: string;
  path: string;
  scenario: string | null;
  wall_t0_iso: string | null;
  phases: PhaseEntry[];
  status: string | null;
}

/** One entry of `harness.listProfiles`. */
export interface ProfileEntry {
  kind: string;
  phase: string | null;
  service: string | null;
  path: string;
  sampleTypes: string[];
}

/** One entry of `harness.hotLines`. `line` is 0-based. */
export interface HotLine {
  uri: string;
  line: number;
  function: string | null;
  value: number;
  share: number;
  label: string;
}

/** A frame of a flame-graph tree (the JSON format of rundir/pprof/flame.py): function, file and line as in
 *  the profile, own code (1/0), self and total, the diff base's self and total (a diff only), children by
 *  total, frames merged into an "other" frame; `p` is the file on this machine (harness.flameGraph). */
export interface FlameNode {
  n: string;
  f: string;
  l: number;
  o: number;
  s: number;
  v: number;
  bs?: number;
  bv?: number;
  c?: FlameNode[];
  m?: number;
  p?: string;
}

export interface FlameTree {
  version: number;
  sample_type: string;
  unit: string;
  sample_types: [string, string][];
  total: number;
  base_total: number | null;
  root: FlameNode;
}

/** One graph: what it shows (service, profile, phase, compare, sample) and its tree. */
export interface FlameGraph {
  dims: Record<string, string>;
  title: string;
  tree: FlameTree;
}

/** The answer of `harness.flameGraph`: a graph per service of the current selection. */
export interface FlameGraphAnswer {
  graphs: FlameGraph[];
  message: string;
  sampleType?: string;
  unit?: string;
  run?: string | null;
  phase?: string | null;
}

export const HEAT_NOTIFICATION = "harness/heat";
export const STATUS_NOTIFICATION = "harness/status";

/** Server commands (workspace/executeCommand); each takes at most one object argument. */
export const ServerCommand = {
  listRuns: "harness.listRuns",
  selectRun: "harness.selectRun",
  listProfiles: "harness.listProfiles",
  selectProfile: "harness.selectProfile",
  selectPhase: "harness.selectPhase",
  compare: "harness.compare",
  toggle: "harness.toggle",
  reload: "harness.reload",
  hotLines: "harness.hotLines",
  unmappedFiles: "harness.unmappedFiles",
  openProfile: "harness.openProfile",
  status: "harness.status",
  flameGraph: "harness.flameGraph",
} as const;
