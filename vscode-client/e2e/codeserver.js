// code-server (VS Code in the browser) for the end-to-end test: install a .vsix,
// start on a loopback port in its own process group, stop the whole group.
"use strict";
const { spawn, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const net = require("node:net");
const path = require("node:path");

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

class CodeServer {
  /**
   * @param {string} app   directory with node_modules/.bin/code-server (e2e/install.sh)
   * @param {string} state directory for this run's user data, extensions and HOME
   */
  constructor(app, state) {
    this.bin = path.join(app, "node_modules", ".bin", "code-server");
    if (!fs.existsSync(this.bin)) {
      throw new Error(`code-server is not installed at ${this.bin}. Fix: run vscode-client/e2e/install.sh (or scripts/e2e.sh).`);
    }
    this.state = state;
    this.home = path.join(state, "home");
    this.dataDir = path.join(state, "data");
    this.extDir = path.join(state, "extensions");
    this.log = path.join(state, "code-server.log");
    this.proc = null;
    this.port = null;
    for (const d of [this.home, path.join(this.dataDir, "User"), this.extDir]) fs.mkdirSync(d, { recursive: true });
  }

  env() {
    return {
      ...process.env,
      HOME: this.home,
      XDG_CONFIG_HOME: path.join(this.home, ".config"),
      XDG_DATA_HOME: path.join(this.home, ".local", "share"),
      XDG_CACHE_HOME: path.join(this.home, ".cache"),
    };
  }

  writeUserSettings(settings) {
    fs.writeFileSync(path.join(this.dataDir, "User", "settings.json"), JSON.stringify(settings, null, 2));
  }

  installExtension(vsix) {
    execFileSync(this.bin, ["--user-data-dir", this.dataDir, "--extensions-dir", this.extDir, "--install-extension", vsix, "--force"],
      { env: this.env(), stdio: "inherit", timeout: 120000 });
  }

  async start(folder) {
    this.port = Number(process.env.HARNESS_E2E_PORT) || (await freePort());
    const out = fs.openSync(this.log, "w");
    this.proc = spawn(this.bin, [
      "--auth", "none", "--bind-addr", `127.0.0.1:${this.port}`, "--disable-telemetry", "--disable-update-check",
      "--disable-workspace-trust", "--user-data-dir", this.dataDir, "--extensions-dir", this.extDir, folder,
    ], { env: this.env(), detached: true, stdio: ["ignore", out, out] });
    fs.closeSync(out);
    const deadline = Date.now() + 60000;
    let last = "no answer";
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) break;
      try {
        const res = await fetch(`http://127.0.0.1:${this.port}/healthz`);
        if (res.ok) return `http://127.0.0.1:${this.port}`;
        last = `HTTP ${res.status}`;
      } catch (err) {
        last = String(err.cause?.code ?? err.message);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
    throw new Error(`code-server did not answer on http://127.0.0.1:${this.port}/healthz within 60 s (last: ${last}, exit code: ${this.proc.exitCode}). Its log: ${this.log}\n${this.tail()}`);
  }

  tail(lines = 30) {
    try {
      return fs.readFileSync(this.log, "utf8").split("\n").slice(-lines).join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** The extension's output channel ("Harness") as code-server logged it. */
  extensionLog(lines = 60) {
    const found = [];
    const walk = (d) => {
      for (const e of fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }) : []) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (/Harness/.test(e.name) && e.name.endsWith(".log")) found.push(p);
      }
    };
    walk(path.join(this.dataDir, "logs"));
    return found.map((f) => `--- ${f}\n${fs.readFileSync(f, "utf8").split("\n").slice(-lines).join("\n")}`).join("\n");
  }

  async stop() {
    const p = this.proc;
    this.proc = null;
    if (!p || p.exitCode !== null) return;
    const gone = new Promise((r) => p.once("exit", r));
    try {
      process.kill(-p.pid, "SIGTERM");
    } catch {
      return;
    }
    const timer = setTimeout(() => {
      try {
        process.kill(-p.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }, 5000);
    await gone;
    clearTimeout(timer);
  }
}

module.exports = { CodeServer, freePort };
