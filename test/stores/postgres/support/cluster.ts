/**
 * A throwaway PostgreSQL cluster on a spare port, for tests that stop their server. It never
 * touches the shared server on 5432. initdb refuses to run as root, so as root the cluster runs as
 * the `postgres` user (runuser). A watchdog process stops the cluster and deletes its directory if
 * the test process dies without doing so.
 */
import { execFile, spawn } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { sparePort } from "../../../support/ports.js";

const run = promisify(execFile);
const BIN = process.env.PG_BIN ?? "/usr/lib/postgresql/15/bin";

export interface Cluster {
  readonly port: number;
  readonly url: string;
  /** Stops the server (fast shutdown: clients are disconnected). */
  stop(): Promise<void>;
  /** Starts it again on the same port and data. */
  start(): Promise<void>;
  /** Stops it if running and deletes its directory. */
  destroy(): Promise<void>;
}

/** Why a throwaway cluster cannot be made here, or null if it can. */
export function clusterUnavailable(): string | null {
  if (!existsSync(join(BIN, "initdb")) || !existsSync(join(BIN, "pg_ctl"))) return `no initdb/pg_ctl in ${BIN}`;
  if (process.getuid?.() === 0 && !existsSync("/usr/sbin/runuser") && !existsSync("/sbin/runuser")) {
    return "running as root without runuser";
  }
  return null;
}

/** Initialises and starts a cluster; resolves once it accepts connections. */
export async function startCluster(): Promise<Cluster> {
  const root = process.getuid?.() === 0;
  const as = (command: string, args: string[]): [string, string[]] =>
    root ? ["runuser", ["-u", "postgres", "--", join(BIN, command), ...args]] : [join(BIN, command), args];
  const dir = mkdtempSync(join(tmpdir(), "bgt-pg-"));
  const data = join(dir, "data");
  if (root) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  await run(...as("initdb", ["-D", data, "-A", "trust", "-U", "postgres", "--no-sync", "--no-instructions"]));
  const port = await sparePort();
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=20`;
  let running = false;
  const start = async () => {
    await run(...as("pg_ctl", ["-D", data, "-o", options, "-l", join(dir, "log"), "-w", "-t", "30", "start"]));
    running = true;
  };
  const stop = async () => {
    await run(...as("pg_ctl", ["-D", data, "-m", "fast", "-w", "stop"]));
    running = false;
  };
  await start();

  const [ctl, ctlArgs] = as("pg_ctl", ["-D", data, "-m", "immediate", "stop"]);
  const stopCommand = [ctl, ...ctlArgs].map((a) => `'${a}'`).join(" ");
  const watchdog = spawn(
    "sh",
    [
      "-c",
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${stopCommand} >/dev/null 2>&1; rm -rf '${dir}'`,
    ],
    { detached: true, stdio: "ignore" },
  );
  watchdog.unref();

  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop,
    start,
    async destroy() {
      if (running) await stop().catch(() => {});
      if (watchdog.pid !== undefined) {
        try {
          process.kill(watchdog.pid);
        } catch {
          // already gone
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
