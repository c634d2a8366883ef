import assert from "node:assert/strict";
import { test } from "node:test";
import {
  HEAT_LEVELS, backgroundAlpha, clamp01, gutterSvg, heatLevel, heatRgb, hex, isEmptyPlan, levelStyle, planHeat,
} from "../src/heat";
import type { HeatParams } from "../src/protocol";

function luminance([r, g, b]: readonly number[]): number {
  const f = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
}

function contrast(a: readonly number[], b: readonly number[]): number {
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

test("colour scale runs from yellow to red and clamps", () => {
  assert.deepEqual(heatRgb(0), [240, 190, 0]);
  assert.deepEqual(heatRgb(1), [215, 25, 28]);
  assert.deepEqual(heatRgb(-3), heatRgb(0));
  assert.deepEqual(heatRgb(7), heatRgb(1));
  assert.deepEqual(heatRgb(Number.NaN), heatRgb(0));
  assert.equal(hex(heatRgb(1)), "#d7191c");
});

test("colour scale gets redder (less green) as heat rises", () => {
  let prevGreen = Infinity;
  for (let i = 0; i <= 20; i++) {
    const [, g] = heatRgb(i / 20);
    assert.ok(g <= prevGreen, `green rose at heat ${i / 20}`);
    prevGreen = g;
  }
});

test("gutter colours stand out on light and dark editor backgrounds", () => {
  const white = [255, 255, 255];
  const dark = [30, 30, 30];
  for (let level = 0; level < HEAT_LEVELS; level++) {
    const rgb = heatRgb((level + 1) / HEAT_LEVELS);
    assert.ok(contrast(rgb, dark) >= 3, `level ${level} too faint on dark: ${contrast(rgb, dark).toFixed(2)}`);
    // Warm yellows are light by nature; the bar is a shape next to line numbers, 1.4:1 keeps it visible.
    assert.ok(contrast(rgb, white) >= 1.4, `level ${level} too faint on light: ${contrast(rgb, white).toFixed(2)}`);
  }
});

test("background alpha grows with heat, keeps text readable, and is stronger on dark themes", () => {
  assert.ok(backgroundAlpha(0, "light") < backgroundAlpha(1, "light"));
  assert.ok(backgroundAlpha(1, "light") <= 0.35);
  assert.ok(backgroundAlpha(1, "dark") <= 0.45);
  assert.ok(backgroundAlpha(0.5, "dark") > backgroundAlpha(0.5, "light"));
  const s = levelStyle(HEAT_LEVELS - 1);
  assert.match(s.background.light, /^rgba\(215, 25, 28, 0\.32\)$/);
  assert.equal(s.gutterColor, "#d7191c");
});

test("heat levels split 0..1 evenly and the top value lands in the top level", () => {
  assert.equal(heatLevel(0), 0);
  assert.equal(heatLevel(0.124), 0);
  assert.equal(heatLevel(0.125), 1);
  assert.equal(heatLevel(0.99), HEAT_LEVELS - 1);
  assert.equal(heatLevel(1), HEAT_LEVELS - 1);
  assert.equal(heatLevel(5), HEAT_LEVELS - 1);
  assert.equal(clamp01(-1), 0);
});

test("gutter icon is an SVG data URI with the colour", () => {
  const uri = gutterSvg("#d7191c");
  assert.ok(uri.startsWith("data:image/svg+xml;utf8,"));
  assert.ok(decodeURIComponent(uri).includes("fill='#d7191c'"));
  assert.ok(decodeURIComponent(gutterSvg("#888", true)).includes("stroke-dasharray"));
});

function params(lines: unknown[]): HeatParams {
  return { uri: "file:///ws/main.go", version: 3, sampleType: "cpu", unit: "nanoseconds", lines: lines as HeatParams["lines"] };
}

test("heat notification maps to levels, stale lines apart", () => {
  const plan = planHeat(params([
    { line: 10, heat: 1, value: 5e9, share: 0.6, label: "5s 60%" },
    { line: 3, heat: 0.05, value: 1e8, share: 0.01, label: "0.1s 1%" },
    { line: 7, heat: 0.5, value: 2e9, share: 0.2, label: "2s 20%", stale: true },
    { line: 12, heat: 0.51, value: 2e9, share: 0.2, label: "2s 20%" },
  ]));
  assert.equal(plan.uri, "file:///ws/main.go");
  assert.equal(plan.version, 3);
  assert.deepEqual(plan.levels[HEAT_LEVELS - 1], [10]);
  assert.deepEqual(plan.levels[0], [3]);
  assert.deepEqual(plan.levels[4], [12]);
  assert.deepEqual(plan.stale, [7]);
  assert.equal(plan.byLine.get(10)?.label, "5s 60%");
  assert.equal(plan.levels.flat().length, 3);
});

test("malformed lines are skipped, duplicates keep the hottest, lines past the end are dropped", () => {
  const plan = planHeat(params([
    { line: -1, heat: 1 }, { line: 2.5, heat: 1 }, null, { heat: 1 },
    { line: 4, heat: 0.1, label: "a" }, { line: 4, heat: 0.9, label: "b" },
    { line: 99, heat: 1, label: "past the end" },
  ]), 50);
  assert.deepEqual(plan.levels.flat(), [4]);
  assert.equal(plan.byLine.get(4)?.label, "b");
  assert.ok(!plan.byLine.has(99));
});

test("an empty lines list clears", () => {
  assert.ok(isEmptyPlan(planHeat(params([]))));
  assert.ok(isEmptyPlan(planHeat({ ...params([]), lines: undefined as unknown as [] })));
  assert.ok(!isEmptyPlan(planHeat(params([{ line: 0, heat: 0, stale: true }]))));
});
