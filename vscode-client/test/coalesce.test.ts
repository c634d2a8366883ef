import assert from "node:assert/strict";
import { test } from "node:test";
import { Coalescer } from "../src/coalesce";

function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => (open = r));
  return { p, open };
}

test("requests during a run coalesce into exactly one more run", async () => {
  const gates = [gate(), gate(), gate()];
  let runs = 0;
  const c = new Coalescer(async () => {
    const g = gates[runs++];
    await g.p;
  });
  const first = c.request();
  assert.equal(runs, 1);
  const second = c.request();
  const third = c.request();
  assert.equal(second, third, "requests during a run share one follow-up");
  assert.equal(runs, 1);
  gates[0].open();
  await first;
  await new Promise((r) => setImmediate(r));
  assert.equal(runs, 2);
  gates[1].open();
  await second;
  assert.equal(runs, 2);
  assert.equal(c.busy, false);
  const fourth = c.request();
  assert.equal(runs, 3);
  gates[2].open();
  await fourth;
});

test("a failing run does not block the next one", async () => {
  let runs = 0;
  const c = new Coalescer(async () => {
    runs++;
    if (runs === 1) throw new Error("first fails");
  });
  const a = c.request();
  const b = c.request();
  await assert.rejects(a, /first fails/);
  await b;
  assert.equal(runs, 2);
  assert.equal(c.busy, false);
});
