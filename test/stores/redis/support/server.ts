/** A redis-server on a spare port that a test can crash and restart. */
import { type ChildProcess, spawn } from "node:child_process";
import { connect } from "node:net";
import { fileURLToPath } from "node:url";
import { sleep } from "./helpers.js";

const WATCHDOG = fileURLToPath(new URL("./watchdog.mjs", import.meta.url));

/** Sends PING; true on +PONG. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => done(data.toString().startsWith("+PONG")));
  });
}

export class RedisServer {
  readonly port: number;
  readonly #options: readonly string[];
  #watchdog: ChildProcess | undefined;

  /** `options`: more redis-server options, e.g. `["--cluster-enabled", "yes"]`. */
  constructor(port: number, options: readonly string[] = []) {
    this.port = port;
    this.#options = options;
  }

  /** True between start and stop. */
  get running(): boolean {
    return this.#watchdog !== undefined;
  }

  /** Starts the server and waits until it answers PING. */
  async start(): Promise<void> {
    if (this.#watchdog) throw new Error(`redis-server on port ${this.port} is already running`);
    this.#watchdog = spawn(process.execPath, [WATCHDOG, String(this.port), ...this.#options], {
      stdio: "ignore",
    });
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      if (await ping(this.port)) return;
      await sleep(20);
    }
    await this.stop();
    throw new Error(`redis-server did not start on port ${this.port} within 10 s`);
  }

  /** Kills the server at once (SIGKILL: no shutdown, no save) and waits until it is gone. */
  async stop(): Promise<void> {
    const watchdog = this.#watchdog;
    if (!watchdog) return;
    this.#watchdog = undefined;
    if (watchdog.exitCode === null) {
      const exited = new Promise((resolve) => watchdog.once("exit", resolve));
      watchdog.kill("SIGTERM");
      await exited;
    }
    while (await ping(this.port)) await sleep(20);
  }
}
