/**
 * Finds the real servers tests run against. Outside CI a server that does not answer skips its
 * tests with a loud message naming the variable to set; under CI=true it fails the run instead.
 */
import { connect } from "node:net";

export interface Service {
  /** True when the server answered. */
  readonly ok: boolean;
  /** The URL tests should connect to. */
  readonly url: string;
}

const DEFAULTS = {
  REDIS_URL: "redis://127.0.0.1:6379",
  DATABASE_URL: "postgres://postgres@127.0.0.1:5432/test",
} as const;

/**
 * Resolves the server named by `variable` (or its local default) and checks that it accepts a TCP
 * connection within two seconds.
 */
export async function findService(variable: keyof typeof DEFAULTS): Promise<Service> {
  const url = process.env[variable] ?? DEFAULTS[variable];
  const { hostname, port } = new URL(url);
  const ok = await reachable(hostname || "127.0.0.1", Number(port) || (variable === "REDIS_URL" ? 6379 : 5432));
  if (!ok) {
    const message = `${variable}: nothing answers at ${url}. Set ${variable} to a reachable server to run these tests.`;
    if (process.env.CI === "true") throw new Error(`${message} (CI=true: failing rather than skipping)`);
    console.warn(`\n${"!".repeat(100)}\n!! SKIPPING: ${message}\n${"!".repeat(100)}\n`);
  }
  return { ok, url };
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: host.replace(/^\[|\]$/g, ""), port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
