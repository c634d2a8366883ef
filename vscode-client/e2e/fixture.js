// Builds the end-to-end workspace: a Go module with a hot line, profiled for real
// (runtime/pprof, FIXTURE_SECONDS of CPU time, default 4 s: ~100 samples per
// second), and two run directories following the manifest contract
// (docs/DESIGN.md, "Run directory"). Usage: node fixture.js <workspace dir> [go binary]
"use strict";
const { execFileSync } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");
const zlib = require("node:zlib");

const MODULE = "example.com/hotdemo";
const SERVICE = "app";
const PHASE = "main";
// Two runs so that Pick Run has a choice; the older one is picked in the test.
const RUN_IDS = ["hot-20261122T100000Z", "hot-20261122T110000Z"];
// The Go CPU profiler takes 100 samples per CPU second; fewer than this share of them
// means the profile is not worth testing on (the hot line's share would be noise).
const SAMPLES_PER_SECOND = 100;
const MIN_SAMPLE_RATIO = 0.75;

function sha256(file) {
  return "sha256:" + crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

/** Sum of the first sample value (samples/count) of a gzipped pprof profile: a minimal protobuf walk. */
function countSamples(file) {
  const buf = zlib.gunzipSync(fs.readFileSync(file));
  const varint = (b, pos) => {
    let v = 0, mul = 1;
    for (;;) {
      const byte = b[pos.i++];
      v += (byte & 0x7f) * mul;
      if (byte < 0x80) return v;
      mul *= 128;
    }
  };
  // Calls fn(field, wireType, pos, end) for each field of the message in b[start..end).
  const fields = (b, start, end, fn) => {
    const pos = { i: start };
    while (pos.i < end) {
      const key = varint(b, pos);
      const field = Math.floor(key / 8), wire = key & 7;
      if (wire === 0) {
        fn(field, wire, { i: pos.i }, end);
        varint(b, pos);
      } else if (wire === 2) {
        const len = varint(b, pos);
        fn(field, wire, { i: pos.i }, pos.i + len);
        pos.i += len;
      } else if (wire === 1 || wire === 5) {
        pos.i += wire === 1 ? 8 : 4;
      } else {
        throw new Error(`${file}: unexpected protobuf wire type ${wire}`);
      }
    }
  };
  let total = 0;
  fields(buf, 0, buf.length, (field, wire, pos, end) => {
    if (field !== 2 || wire !== 2) return; // Profile.sample
    let first = null;
    fields(buf, pos.i, end, (f, w, p) => {
      if (f !== 2 || first !== null) return; // Sample.value, packed (w 2) or not (w 0)
      first = varint(buf, p);
    });
    total += first || 0;
  });
  return total;
}

/**
 * Run the fixture program until its profile holds enough samples: at least MIN_SAMPLE_RATIO of
 * `seconds` at SAMPLES_PER_SECOND. Its -seconds is CPU time, but on a machine busy with other
 * work the kernel delivers fewer profiling signals than CPU seconds would give; then the run is
 * repeated with a longer budget (at most 3 runs, at most 4x the asked time).
 */
function profileEnough(program, profile, seconds) {
  const floor = Math.ceil(seconds * SAMPLES_PER_SECOND * MIN_SAMPLE_RATIO);
  let budget = seconds;
  let samples = 0;
  for (let attempt = 1; attempt <= 3; attempt++) {
    // The program stops at 10x its budget in wall time, before this timeout.
    execFileSync(program, ["-cpuprofile", profile, "-seconds", String(budget)],
      { cwd: path.dirname(program), stdio: ["ignore", "ignore", "inherit"], timeout: Math.max(60000, budget * 12000) });
    samples = countSamples(profile);
    if (samples >= floor) return { samples, budget };
    const next = Math.min(4 * seconds, (budget * floor * 1.3) / Math.max(samples, 1));
    if (attempt < 3) {
      console.error(`fixture: the CPU profile holds ${samples} samples after ${budget} s of CPU time, fewer than ${floor} (a busy machine?); profiling again for ${next.toFixed(1)} s`);
    }
    budget = Number(next.toFixed(1));
  }
  throw new Error(`the fixture's CPU profile holds ${samples} samples, fewer than ${floor} (${MIN_SAMPLE_RATIO * 100}% of ${seconds} s at ${SAMPLES_PER_SECOND} Hz), after 3 runs: the machine is too busy to profile; run again when it is quieter, or raise FIXTURE_SECONDS`);
}

function writeManifest(runDir, runId, ws, index, goVersion, seconds) {
  const wall = Date.UTC(2026, 10, 22, 10 + index, 0, 0) / 1000;
  const manifest = {
    schema_version: 1,
    run_id: runId,
    scenario: { name: "hot", path: path.join(ws, "scenarios", "hot.yaml"), resolved: { name: "hot" } },
    tools: { harness: "0.1.0", go: goVersion },
    clock: { wall_t0: wall, wall_t0_iso: new Date(wall * 1000).toISOString(), mono_t0: 1000.0 + index },
    phases: [{ name: PHASE, start_s: 0.0, end_s: seconds, faults: [] }],
    baseline_phase: null,
    services: {
      [SERVICE]: {
        container: null, container_name: null, image: null, limits: {}, pprof: null,
        source_root: ws, module: MODULE, source_hashes: { "main.go": sha256(path.join(ws, "main.go")) },
      },
    },
    artifacts: [{
      kind: "cpu", service: SERVICE, phase: PHASE, path: `profiles/${PHASE}/${SERVICE}/cpu.pb.gz`,
      start_s: 0.0, end_s: seconds, sample_types: ["samples/count", "cpu/nanoseconds"],
    }],
    faults: [],
    events: [{ t_s: 0.0, kind: "run-start", detail: "fixture" }],
    result: { status: "completed", reason: null, exit_code: 0, end_s: seconds },
  };
  fs.writeFileSync(path.join(runDir, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  fs.writeFileSync(path.join(runDir, "report.html"), `<!doctype html><title>${runId}</title><h1>${runId}</h1>\n`);
}

function main() {
  const ws = path.resolve(process.argv[2] || "e2e-workspace");
  const go = process.argv[3] || process.env.GO_BIN || "go";
  fs.mkdirSync(ws, { recursive: true });
  fs.copyFileSync(path.join(__dirname, "fixture-src", "main.go"), path.join(ws, "main.go"));
  fs.writeFileSync(path.join(ws, "go.mod"), `module ${MODULE}\n\ngo 1.21\n`);
  fs.mkdirSync(path.join(ws, "scenarios"), { recursive: true });
  fs.writeFileSync(path.join(ws, "scenarios", "hot.yaml"), "name: hot\n");
  const profile = path.join(ws, "cpu.pb.gz");
  const env = { ...process.env, GOTOOLCHAIN: "local", GOFLAGS: "-mod=mod", GOPROXY: "off", CGO_ENABLED: "0" };
  // -trimpath: file names in the profile are module paths (example.com/hotdemo/main.go), as in a container build.
  execFileSync(go, ["build", "-trimpath", "-o", path.join(ws, "hotdemo"), "."], { cwd: ws, env, stdio: "inherit", timeout: 300000 });
  const seconds = Number(process.env.FIXTURE_SECONDS || "4");
  if (!(seconds > 0)) throw new Error(`FIXTURE_SECONDS=${process.env.FIXTURE_SECONDS}: expected a positive number of seconds`);
  const { samples, budget } = profileEnough(path.join(ws, "hotdemo"), profile, seconds);
  fs.rmSync(path.join(ws, "hotdemo"));
  const goVersion = execFileSync(go, ["env", "GOVERSION"], { encoding: "utf8", env, timeout: 60000 }).trim();
  RUN_IDS.forEach((id, i) => {
    const runDir = path.join(ws, "runs", id);
    const dest = path.join(runDir, "profiles", PHASE, SERVICE);
    fs.mkdirSync(dest, { recursive: true });
    fs.copyFileSync(profile, path.join(dest, "cpu.pb.gz"));
    writeManifest(runDir, id, ws, i, goVersion, budget);
  });
  fs.rmSync(profile);
  console.log(JSON.stringify({ workspace: ws, runs: RUN_IDS, file: path.join(ws, "main.go"), samples }));
}

if (require.main === module) main();
module.exports = { RUN_IDS, MODULE, countSamples };
