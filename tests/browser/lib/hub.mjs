// Starts and stops the real hub binary for a test: port 0 (or a given
// port, to come back on the same one), a temporary data directory.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));

/** The hub binary: $HUBBUB_BIN, or the debug build of this workspace. */
export const HUB_BIN = process.env.HUBBUB_BIN
  ? resolve(process.env.HUBBUB_BIN)
  : resolve(here, "../../../target/debug/hubbub");

/** Hubs still running; killed if the test process exits without stopping them. */
const running = new Set();
process.on("exit", () => {
  for (const proc of running) proc.kill("SIGKILL");
});

/** Whether the binary has an MQTT listener (then it gets a free port too). */
function hasMqtt() {
  const help = spawnSync(HUB_BIN, ["--help"], { encoding: "utf8" });
  return help.stdout.includes("--mqtt");
}

/** A fresh temporary directory, removed by `cleanup()`. */
export function tempDir(prefix = "hubbub-browser-") {
  return mkdtempSync(join(tmpdir(), prefix));
}

/**
 * A running hub. `start()` launches it; `stop()` sends SIGTERM and waits for
 * it to exit 0; `restart()` starts it again on the same port and data dir.
 */
export class Hub {
  /** `config`: optional TOML text, passed with --config. */
  constructor({ config } = {}) {
    if (!existsSync(HUB_BIN)) {
      throw new Error(`no hub binary at ${HUB_BIN}: run \`cargo build -p hubbub\` or set HUBBUB_BIN`);
    }
    this.dir = tempDir();
    this.dataDir = join(this.dir, "data");
    this.configFile = null;
    if (config) {
      this.configFile = join(this.dir, "hubbub.toml");
      writeFileSync(this.configFile, config);
    }
    this.port = 0;
    /** The MQTT port, or null if this hub has no MQTT. */
    this.mqttPort = hasMqtt() ? 0 : null;
    this.proc = null;
    this.log = "";
  }

  /** The base URL, e.g. http://127.0.0.1:40123 */
  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    // The same port may still be held a moment after a stop: try again.
    for (let attempt = 0; ; attempt += 1) {
      try {
        await this.#spawn();
        return this;
      } catch (e) {
        if (attempt >= 20 || this.port === 0) throw e;
        await sleep(250);
      }
    }
  }

  #spawn() {
    const args = ["--data", this.dataDir, "--http", `127.0.0.1:${this.port}`, "--log-format", "human"];
    if (this.mqttPort !== null) args.push("--mqtt", `127.0.0.1:${this.mqttPort}`);
    if (this.configFile) args.unshift("--config", this.configFile);
    const waiting = new Set(this.mqttPort === null ? ["http"] : ["http", "mqtt"]);
    const proc = spawn(HUB_BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
    this.proc = proc;
    running.add(proc);
    proc.once("exit", () => running.delete(proc));
    return new Promise((resolvePort, reject) => {
      let buffered = "";
      const timer = setTimeout(() => fail(new Error(`hub did not start in 15 s:\n${buffered}`)), 15000);
      const fail = (e) => {
        clearTimeout(timer);
        if (proc.exitCode === null) proc.kill("SIGKILL");
        reject(e);
      };
      proc.stderr.setEncoding("utf8");
      proc.stderr.on("data", (chunk) => {
        this.log += chunk;
        if (buffered === null) return;
        buffered += chunk;
        for (const line of buffered.split("\n")) {
          const m = line.includes("listening") && /transport=(\w+) addr=127\.0\.0\.1:(\d+)/.exec(line);
          if (!m || !waiting.has(m[1])) continue;
          waiting.delete(m[1]);
          if (m[1] === "http") this.port = Number(m[2]);
          else this.mqttPort = Number(m[2]);
        }
        if (waiting.size === 0) {
          clearTimeout(timer);
          buffered = null;
          resolvePort();
        }
      });
      proc.once("exit", (code, signal) => {
        if (buffered !== null) fail(new Error(`hub exited (${code ?? signal}) before listening:\n${buffered}`));
      });
    });
  }

  /** SIGTERM, then waits for the exit; returns the exit code. */
  async stop() {
    const proc = this.proc;
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return proc?.exitCode;
    const exited = new Promise((done) => proc.once("exit", (code) => done(code)));
    proc.kill("SIGTERM");
    const timer = setTimeout(() => proc.kill("SIGKILL"), 15000);
    const code = await exited;
    clearTimeout(timer);
    this.proc = null;
    return code;
  }

  /** Stops and starts again on the same port with the same data. */
  async restart() {
    await this.stop();
    await this.start();
  }

  /** Stops the hub (if running) and removes its files. */
  async cleanup() {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  /**
   * Adds a user with `hubbub user add NAME` (the password on stdin); a
   * running hub is reached through its control socket.
   */
  addUser(name, password, { admin = false } = {}) {
    const args = ["--data", this.dataDir, "user", "add", name];
    if (this.configFile) args.unshift("--config", this.configFile);
    if (admin) args.push("--admin");
    const result = spawnSync(HUB_BIN, args, { input: `${password}\n`, encoding: "utf8" });
    if (result.status !== 0) throw new Error(`hubbub user add ${name}: ${result.stderr}`);
  }

  /** POSTs `text` to a room as a JSON body, as a device or script would. */
  async post(room, text, from = "sensor", ref = undefined) {
    const reply = await fetch(`${this.url}/api/rooms/${room}/messages`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(ref === undefined ? { text, from } : { text, from, ref }),
    });
    if (reply.status !== 201 && reply.status !== 200) {
      throw new Error(`POST ${room}: ${reply.status} ${await reply.text()}`);
    }
    return reply.json();
  }

  /**
   * Publishes `text` to a room over MQTT with mosquitto_pub, as a device
   * with client id `device` (its name in the room), at QoS 1: resolves once
   * the hub has acknowledged it, that is, stored it.
   */
  async publish(room, text, device = "sensor") {
    if (this.mqttPort === null) throw new Error("this hub has no MQTT listener");
    const args = ["-h", "127.0.0.1", "-p", String(this.mqttPort), "-i", device, "-q", "1", "-t", `rooms/${room}`, "-m", text];
    const result = await new Promise((done, fail) => {
      const proc = spawn("mosquitto_pub", args, { stdio: ["ignore", "ignore", "pipe"] });
      let err = "";
      proc.stderr.on("data", (d) => (err += d));
      proc.on("error", (e) => fail(new Error(`mosquitto_pub: ${e.message} (apt-get install -y mosquitto-clients)`)));
      proc.on("exit", (code) => done({ code, err }));
    });
    if (result.code !== 0) throw new Error(`mosquitto_pub exited ${result.code}: ${result.err}`);
  }

  /** Every message of a room, oldest first (paging 500 at a time). */
  async history(room) {
    const all = [];
    let after = 0;
    for (;;) {
      const reply = await fetch(`${this.url}/api/rooms/${room}/messages?after=${after}&limit=500`);
      if (!reply.ok) throw new Error(`GET ${room}: ${reply.status} ${await reply.text()}`);
      const page = (await reply.json()).messages;
      all.push(...page);
      if (page.length < 500) return all;
      after = page[page.length - 1].seq;
    }
  }
}

/** Waits `ms` milliseconds. */
export function sleep(ms) {
  return new Promise((done) => setTimeout(done, ms));
}
