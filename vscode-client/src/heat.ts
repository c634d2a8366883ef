// The heat colour scale and the mapping of a `harness/heat` notification to
// decoration buckets. Pure: no vscode import.
import type { HeatLine, HeatParams } from "./protocol";

/** Number of heat levels; one decoration type per level. */
export const HEAT_LEVELS = 8;

export type Rgb = readonly [number, number, number];

// Sequential scale, warm yellow -> orange -> deep red. All three stops keep a
// luminance contrast against both a white and a near-black editor background.
const STOPS: readonly { at: number; rgb: Rgb }[] = [
  { at: 0.0, rgb: [240, 190, 0] },
  { at: 0.5, rgb: [245, 120, 0] },
  { at: 1.0, rgb: [215, 25, 28] },
];

export function clamp01(x: number): number {
  if (!Number.isFinite(x)) return 0;
  return Math.min(1, Math.max(0, x));
}

/** Colour of a heat value in 0..1 (values outside are clamped). */
export function heatRgb(heat: number): Rgb {
  const h = clamp01(heat);
  for (let i = 1; i < STOPS.length; i++) {
    const a = STOPS[i - 1];
    const b = STOPS[i];
    if (h <= b.at) {
      const t = (h - a.at) / (b.at - a.at);
      return [0, 1, 2].map((k) => Math.round(a.rgb[k] + (b.rgb[k] - a.rgb[k]) * t)) as unknown as Rgb;
    }
  }
  return STOPS[STOPS.length - 1].rgb;
}

export type ThemeKind = "light" | "dark";

/**
 * Line-background alpha: low enough that text stays readable, higher on dark
 * themes where a warm tint on near-black is fainter to the eye.
 */
export function backgroundAlpha(heat: number, theme: ThemeKind): number {
  const h = clamp01(heat);
  const [lo, hi] = theme === "dark" ? [0.14, 0.36] : [0.1, 0.32];
  return Math.round((lo + (hi - lo) * h) * 1000) / 1000;
}

export function rgba(rgb: Rgb, alpha: number): string {
  return `rgba(${rgb[0]}, ${rgb[1]}, ${rgb[2]}, ${alpha})`;
}

export function hex(rgb: Rgb): string {
  return "#" + rgb.map((c) => c.toString(16).padStart(2, "0")).join("");
}

/** Level (0..HEAT_LEVELS-1) of a heat value. */
export function heatLevel(heat: number): number {
  return Math.min(HEAT_LEVELS - 1, Math.floor(clamp01(heat) * HEAT_LEVELS));
}

/** Representative heat of a level: its upper edge, so the hottest level is full red. */
export function levelHeat(level: number): number {
  return (level + 1) / HEAT_LEVELS;
}

/** The look of one level, for light and dark themes. */
export interface LevelStyle {
  level: number;
  gutterColor: string;
  rulerColor: string;
  background: { light: string; dark: string };
}

export function levelStyle(level: number): LevelStyle {
  const rgb = heatRgb(levelHeat(level));
  return {
    level,
    gutterColor: hex(rgb),
    rulerColor: rgba(rgb, 0.9),
    background: { light: rgba(rgb, backgroundAlpha(levelHeat(level), "light")), dark: rgba(rgb, backgroundAlpha(levelHeat(level), "dark")) },
  };
}

/** An SVG bar for the gutter, as a data URI (no files to ship or resolve). */
export function gutterSvg(color: string, stale = false): string {
  const fill = stale ? `fill='none' stroke='${color}' stroke-width='1.5' stroke-dasharray='2,2'` : `fill='${color}'`;
  const svg = `<svg xmlns='http://www.w3.org/2000/svg' width='16' height='16' viewBox='0 0 16 16'><rect x='4' y='0' width='5' height='16' ${fill}/></svg>`;
  return "data:image/svg+xml;utf8," + encodeURIComponent(svg);
}

/** What to paint for one document: 0-based line numbers per level, and stale lines apart. */
export interface HeatPlan {
  uri: string;
  version: number | null;
  levels: number[][];
  stale: number[];
  /** Lines by number, for hover text and tests. */
  byLine: Map<number, HeatLine>;
}

/** Map a heat notification to decoration buckets; malformed entries are skipped, duplicates keep the hottest. */
export function planHeat(params: HeatParams, lineCount: number | null = null): HeatPlan {
  const byLine = new Map<number, HeatLine>();
  for (const l of Array.isArray(params.lines) ? params.lines : []) {
    if (!l || !Number.isInteger(l.line) || l.line < 0) continue;
    if (lineCount !== null && l.line >= lineCount) continue;
    const prev = byLine.get(l.line);
    if (!prev || clamp01(l.heat) > clamp01(prev.heat)) byLine.set(l.line, l);
  }
  const levels: number[][] = Array.from({ length: HEAT_LEVELS }, () => []);
  const stale: number[] = [];
  for (const [line, l] of [...byLine.entries()].sort((a, b) => a[0] - b[0])) {
    if (l.stale) stale.push(line);
    else levels[heatLevel(l.heat)].push(line);
  }
  return { uri: params.uri, version: params.version ?? null, levels, stale, byLine };
}

/** True when the plan paints nothing. */
export function isEmptyPlan(plan: HeatPlan): boolean {
  return plan.stale.length === 0 && plan.levels.every((l) => l.length === 0);
}
