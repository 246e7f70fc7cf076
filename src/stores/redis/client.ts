import { ConfigurationError, show } from "../../errors.js";

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
   * False while the connection is down, so that calls fail at once instead of waiting in the
   * client's offline queue to be replayed later. Absent: always connected (HTTP clients).
   */
  isReady?(): boolean;
  /** True for a Redis Cluster: calls whose keys would span slots are refused. Default false. */
  readonly cluster?: boolean;
}

/** The part of an ioredis client (`Redis` or `Cluster`) the store uses. */
export interface IoRedisClient {
  evalsha(sha1: string, numkeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  eval(script: string, numkeys: number, ...keysAndArgs: string[]): Promise<unknown>;
  readonly status: string;
  readonly isCluster: boolean;
}

/** Script options as node-redis takes them. */
export interface NodeRedisEvalOptions {
  keys?: string[];
  arguments?: string[];
}

/** The part of a node-redis client (`createClient()` or `createCluster()`, v4 or v5) the store uses. */
export interface NodeRedisClient {
  evalSha(sha1: string, options?: NodeRedisEvalOptions): Promise<unknown>;
  eval(script: string, options?: NodeRedisEvalOptions): Promise<unknown>;
  readonly isOpen: boolean;
}

/** Any client a RedisStore accepts. */
export type RedisClient = IoRedisClient | NodeRedisClient | ScriptClient;

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
    return {
      evalSha: (sha1, keys, args) => client.evalSha(sha1, keys, args),
      evalSource: (source, keys, args) => client.evalSource(source, keys, args),
      ...(client.isReady ? { isReady: () => client.isReady?.() ?? true } : {}),
      cluster,
    };
  }
  if (isIoRedis(client)) {
    return {
      evalSha: (sha1, keys, args) => client.evalsha(sha1, keys.length, ...keys, ...args),
      evalSource: (source, keys, args) => client.eval(source, keys.length, ...keys, ...args),
      // "ready" only: while "connecting" or "reconnecting" ioredis would queue the command and
      // replay it when Redis returns, long after the engine has given up on it.
      isReady: () => client.status === "ready",
      cluster: cluster ?? client.isCluster === true,
    };
  }
  if (isNodeRedis(client)) {
    const ready = "isReady" in client ? () => (client as { isReady: boolean }).isReady : () => client.isOpen;
    // A cluster client has per-node connections and no isReady of its own.
    const isCluster = cluster ?? !("isReady" in client);
    return {
      evalSha: (sha1, keys, args) => client.evalSha(sha1, { keys: [...keys], arguments: [...args] }),
      evalSource: (source, keys, args) => client.eval(source, { keys: [...keys], arguments: [...args] }),
      isReady: ready,
      cluster: isCluster,
    };
  }
  throw new ConfigurationError(
    `Invalid Redis client ${show(client)}: expected an ioredis client (evalsha and status), a node-redis client (evalSha and isOpen), or a ScriptClient (evalSha and evalSource)`,
  );
}
