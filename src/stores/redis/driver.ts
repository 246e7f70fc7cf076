import { ConfigurationError } from "budgetgate";
import { show } from "budgetgate/store";

/**
 * The little a RedisStore needs from a Redis client: run a script by SHA-1 or by text. Implement
 * it to use a client other than ioredis or node-redis (both are recognised as they are).
 *
 * @example
 * // @upstash/redis, over HTTP. Turn off automatic deserialization: it would parse the store's
 * // decimal strings as JavaScript numbers and lose digits.
 * import { Redis } from "@upstash/redis";
 * const redis = new Redis({ url, token, automaticDeserialization: false });
 * const store = new RedisStore({
 *   evalSha: (sha1, keys, args) => redis.evalsha(sha1, [...keys], [...args]),
 *   evalSource: (source, keys, args) => redis.eval(source, [...keys], [...args]),
 * });
 */
export interface ScriptClient {
  /**
   * EVALSHA. Must reject with an error whose message contains `NOSCRIPT` when the server does not
   * have the script cached; the store then sends it with {@link evalSource}.
   */
  evalSha(sha1: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /** EVAL. */
  evalSource(source: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /**
   * FCALL: runs a Redis Function (Redis 7 and later). Optional, with {@link loadLibrary}: without
   * both, the store runs its scripts with EVALSHA. Must reject with the server's error, whose
   * message starts `ERR Function not found` when the server lacks the library.
   */
  fcall?(name: string, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /** FUNCTION LOAD REPLACE: loads a Redis Functions library. */
  loadLibrary?(source: string): Promise<unknown>;
  /**
   * False when a command sent now would wait in the client's offline queue to be replayed later
   * (the connection dropped and is being re-established): calls then fail at once. Absent: always
   * true (HTTP clients). The built-in adapters let commands wait for the very first connection.
   */
  isReady?(): boolean;
  /** True for a Redis Cluster: calls whose keys would span slots are refused. Default false. */
  readonly cluster?: boolean;
}

/** The part of an ioredis client (`Redis` or `Cluster`) the store uses. @example new RedisStore(new Redis()) */
export interface IoRedisClient {
  /** Runs a cached script by its SHA-1. */
  evalsha(sha1: string, numkeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  /** Runs a script from its source (and caches it). */
  eval(script: string, numkeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  /** Runs a Redis Function (ioredis 5.3 and later). */
  fcall?(name: string, numkeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  /** Sends any command (here FUNCTION LOAD). */
  call?(command: string, ...args: string[]): Promise<unknown>;
  /** The connection state; the store sends only while it is `"ready"`. */
  readonly status: string;
  /** True for an ioredis `Cluster`. */
  readonly isCluster: boolean;
  /** Registers a listener; the store listens for `"ready"`. */
  on?(event: "ready", listener: () => void): unknown;
}

/** Script options as node-redis takes them. @example { keys: ["k"], arguments: ["1"] } */
export interface NodeRedisEvalOptions {
  /** The keys the script touches. */
  keys?: string[];
  /** The script's other arguments. */
  arguments?: string[];
}

/**
 * The part of a node-redis client (`createClient()` or `createCluster()`, v4 or v5) the store uses.
 * @example new RedisStore(await createClient({ url }).connect())
 */
export interface NodeRedisClient {
  /** Runs a cached script by its SHA-1. */
  evalSha(sha1: string, options?: NodeRedisEvalOptions): Promise<unknown>;
  /** Runs a script from its source (and caches it). */
  eval(script: string, options?: NodeRedisEvalOptions): Promise<unknown>;
  /** Runs a Redis Function. */
  fCall?(name: string, options?: NodeRedisEvalOptions): Promise<unknown>;
  /** Loads a Redis Functions library. */
  functionLoad?(code: string, options?: { REPLACE?: boolean }): Promise<unknown>;
  /** Whether the client has a socket open (or is opening one). */
  readonly isOpen: boolean;
  /** Registers a listener; the store follows the connection's events. */
  on?(event: "ready" | "connect" | "error" | "reconnecting", listener: () => void): unknown;
  /** Closes the socket at once; the store uses it to force a reconnection. */
  destroy?(): unknown;
  /** Opens the connection again after `destroy`. */
  connect?(): Promise<unknown>;
}

/** Any client a RedisStore accepts. @example const client: RedisClient = new Redis(); */
export type RedisClient = IoRedisClient | NodeRedisClient | ScriptClient;

/**
 * Per client, whether it has been connected at least once. Kept per client, not per store, so
 * that the stores made on one client (one per tenant, say) add one listener to it in all: a
 * listener per store would pile up, and Node warns past ten of them.
 */
const connections = new WeakMap<object, { seen: boolean }>();

/** Clients whose dead-ready workaround is installed: once per client, as {@link connections}. */
const revived = new WeakSet<object>();

/**
 * Whether the client has been connected at least once: learnt from its "ready" event, or from
 * seeing it up. Before that, commands may wait for the first connection.
 */
function firstConnection(
  client: { on?(event: "ready", listener: () => void): unknown },
  up: () => boolean,
): () => boolean {
  let connection = connections.get(client);
  if (connection === undefined) {
    const fresh = { seen: up() };
    connection = fresh;
    connections.set(client, fresh);
    if (typeof client.on === "function") {
      client.on("ready", () => {
        fresh.seen = true;
      });
    }
  }
  const known = connection;
  return () => {
    if (!known.seen && up()) known.seen = true;
    return known.seen;
  };
}

/**
 * Works around a node-redis reconnection race (redis/node-redis#3108, #3346): when the socket of a
 * reconnection attempt fails after connecting but before the client's (empty) handshake completes,
 * the client still declares itself ready, on a dead socket, and waits on it forever: no command is
 * ever answered again. The telltale is an "error" between "connect" and "ready"; then the client
 * is closed and connected again, which is what its own reconnection would have done.
 */
function reviveDeadReady(client: NodeRedisClient): void {
  const { on, destroy, connect } = client;
  if (typeof on !== "function" || typeof destroy !== "function" || typeof connect !== "function") return;
  if (revived.has(client)) return;
  revived.add(client);
  let state: "idle" | "connected" | "failed" = "idle";
  client.on?.("connect", () => {
    state = "connected";
  });
  client.on?.("error", () => {
    if (state === "connected") state = "failed";
  });
  client.on?.("reconnecting", () => {
    state = "idle";
  });
  client.on?.("ready", () => {
    const dead = state === "failed";
    state = "idle";
    if (!dead) return;
    setImmediate(() => {
      destroy.call(client);
      connect.call(client).catch(() => {
        // Failures surface as "error" events and failed calls; the next attempt is the client's.
      });
    });
  });
}

function isScriptClient(client: object): client is ScriptClient {
  const c = client as Partial<ScriptClient>;
  return typeof c.evalSha === "function" && typeof c.evalSource === "function";
}

function isIoRedis(client: object): client is IoRedisClient {
  const c = client as Partial<IoRedisClient>;
  return typeof c.evalsha === "function" && typeof c.status === "string";
}

function isNodeRedis(client: object): client is NodeRedisClient {
  const c = client as Partial<NodeRedisClient>;
  return typeof c.evalSha === "function" && typeof c.eval === "function" && "isOpen" in c;
}

/**
 * Wraps a recognised client as a {@link ScriptClient}.
 * @throws {ConfigurationError} if `client` is neither ioredis, node-redis nor a ScriptClient.
 */
export function toScriptClient(client: RedisClient, cluster: boolean | undefined): ScriptClient {
  if (client === null || typeof client !== "object") {
    throw new ConfigurationError(
      `Invalid Redis client ${show(client)}: expected an ioredis or node-redis client, or a ScriptClient`,
    );
  }
  if (isScriptClient(client)) {
    if (cluster === undefined || cluster === client.cluster) return client;
    const { fcall, loadLibrary } = client;
    return {
      evalSha: (sha1, keys, args) => client.evalSha(sha1, keys, args),
      evalSource: (source, keys, args) => client.evalSource(source, keys, args),
      ...(fcall && loadLibrary
        ? {
            fcall: (name: string, keys: readonly string[], args: readonly string[]) =>
              fcall.call(client, name, keys, args),
            loadLibrary: (source: string) => loadLibrary.call(client, source),
          }
        : {}),
      ...(client.isReady ? { isReady: () => client.isReady?.() ?? true } : {}),
      cluster,
    };
  }
  if (isIoRedis(client)) {
    const connected = firstConnection(client, () => client.status === "ready");
    const { fcall, call } = client;
    return {
      evalSha: (sha1, keys, args) => client.evalsha(sha1, keys.length, ...keys, ...args),
      evalSource: (source, keys, args) => client.eval(source, keys.length, ...keys, ...args),
      ...(typeof fcall === "function" && typeof call === "function"
        ? {
            fcall: (name: string, keys: readonly string[], args: readonly string[]) =>
              fcall.call(client, name, keys.length, ...keys, ...args),
            loadLibrary: (source: string) => call.call(client, "FUNCTION", "LOAD", "REPLACE", source),
          }
        : {}),
      // Once connected, "ready" only: while "reconnecting" or "connecting" again ioredis would
      // queue the command and replay it when Redis returns, long after the engine gave up on it.
      isReady: () =>
        client.status === "ready" || (!connected() && ["wait", "connecting", "connect"].includes(client.status)),
      cluster: cluster ?? client.isCluster === true,
    };
  }
  if (isNodeRedis(client)) {
    // A cluster client has per-node connections and no isReady of its own.
    const isCluster = cluster ?? !("isReady" in client);
    const up = "isReady" in client ? () => (client as { isReady: boolean }).isReady : () => client.isOpen;
    const connected = firstConnection(client, up);
    const ready = () => up() || (!connected() && client.isOpen);
    if (!isCluster) reviveDeadReady(client);
    const { fCall, functionLoad } = client;
    return {
      evalSha: (sha1, keys, args) => client.evalSha(sha1, { keys: [...keys], arguments: [...args] }),
      evalSource: (source, keys, args) => client.eval(source, { keys: [...keys], arguments: [...args] }),
      ...(typeof fCall === "function" && typeof functionLoad === "function"
        ? {
            fcall: (name: string, keys: readonly string[], args: readonly string[]) =>
              fCall.call(client, name, { keys: [...keys], arguments: [...args] }),
            loadLibrary: (source: string) => functionLoad.call(client, source, { REPLACE: true }),
          }
        : {}),
      isReady: ready,
      cluster: isCluster,
    };
  }
  throw new ConfigurationError(
    `Invalid Redis client ${show(client)}: expected an ioredis client (evalsha and status), a node-redis client (evalSha and isOpen), or a ScriptClient (evalSha and evalSource)`,
  );
}
