// Builds the end-to-end workspace: a Go module with a hot line, profiled for real
// (runtime/pprof, ~2 s), and two run directories following the manifest contract
// (docs/DESIGN.md, "Run directory"). Usage: node fixture.js <workspace dir> [go binary]
"use strict";
const { execFileSync } = require("node:child_process");
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const MODULE = "example.com/hotdemo";
const SERVICE = "app";
const PHASE = "main";
// Two runs so that Pick Run has a choice; the older one is picked in the test.
const RUN_IDS = ["hot-20261122T100000Z", "hot-20261122T110000Z"];

function sha256(file) {
  return "sha256:" + crypto.createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

function writeManifest(runDir, runId, ws, index, goVersion) {
  const wall = Date.UTC(2026, 10, 22, 10 + index, 0, 0) / 1000;
  const manifest = {
    schema_version: 1,
    run_id: runId,
    scenario: { name: "hot", path: path.join(ws, "scenarios", "hot.yaml"), resolved: { name: "hot" } },
    tools: { harness: "0.1.0", go: goVersion },
    clock: { wall_t0: wall, wall_t0_iso: new Date(wall * 1000).toISOString(), mono_t0: 1000.0 + index },
    phases: [{ name: PHASE, start_s: 0.0, end_s: 2.0, faults: [] }],
    baseline_phase: null,
    services: {
      [SERVICE]: {
        container: null, container_name: null, image: null, limits: {}, pprof: null,
        source_root: ws, module: MODULE, source_hashes: { "main.go": sha256(path.join(ws, "main.go")) },
      },
    },
    artifacts: [{
      kind: "cpu", service: SERVICE, phase: PHASE, path: `profiles/${PHASE}/${SERVICE}/cpu.pb.gz`,
      start_s: 0.0, end_s: 2.0, sample_types: ["samples/count", "cpu/nanoseconds"],
    }],
    faults: [],
    events: [{ t_s: 0.0, kind: "run-start", detail: "fixture" }],
    result: { status: "completed", reason: null, exit_code: 0, end_s: 2.0 },
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
  execFileSync(path.join(ws, "hotdemo"), ["-cpuprofile", profile, "-seconds", process.env.FIXTURE_SECONDS || "2"], { cwd: ws, stdio: "inherit", timeout: 60000 });
  fs.rmSync(path.join(ws, "hotdemo"));
  const goVersion = execFileSync(go, ["env", "GOVERSION"], { encoding: "utf8", env, timeout: 60000 }).trim();
  RUN_IDS.forEach((id, i) => {
    const runDir = path.join(ws, "runs", id);
    const dest = path.join(runDir, "profiles", PHASE, SERVICE);
    fs.mkdirSync(dest, { recursive: true });
    fs.copyFileSync(profile, path.join(dest, "cpu.pb.gz"));
    writeManifest(runDir, id, ws, i, goVersion);
  });
  fs.rmSync(profile);
  console.log(JSON.stringify({ workspace: ws, runs: RUN_IDS, file: path.join(ws, "main.go") }));
}

if (require.main === module) main();
module.exports = { RUN_IDS, MODULE };
