import { ConfigurationError, ReservationNotFoundError, StoreError, StoreTimeoutError, show } from "../errors.js";
import type { Ledger } from "../ledger.js";
import type { Hold, SettleOutcome, Store, StoreCall, StoreLine, StoreVerdict } from "../store.js";
import { type RedisClient, type ScriptClient, toScriptClient } from "./redis/client.js";
import { KeySpace, type LedgerKeys } from "./redis/keys.js";
import { SCRIPTS, type Script } from "./redis/scripts.js";
import { monotonicMs, ServerClock } from "./redis/server-clock.js";

export type {
  IoRedisClient,
  NodeRedisClient,
  NodeRedisEvalOptions,
  RedisClient,
  ScriptClient,
} from "./redis/client.js";
export { escapeKeyPart } from "./redis/keys.js";

/** Options of {@link RedisStore}. */
export interface RedisStoreOptions {
  /**
   * Prepended to every key, so that several applications or test runs share a server apart.
   * No `{` or `}`. Default `"budgetgate:"`.
   */
  readonly prefix?: string;
  /**
   * The Redis Cluster hash tag of a ledger's keys. By default each ledger has its own tag, hence
   * its own slot, which spreads load; a call that charges several ledgers together must then have
   * them in one slot, so on a cluster give ledgers charged together one tag, for example
   * `(ledger) => ledger.namespace`, or `(ledger) => tenantOf(ledger.principal)`. Changing it
   * changes every key, like changing the prefix.
   */
  readonly hashTag?: (ledger: Ledger) => string;
  /**
   * Whether the server is a Redis Cluster, where a call whose keys span slots is refused before
   * it is sent. Default: detected for ioredis (`Cluster`) and node-redis (`createCluster`);
   * `cluster` of a {@link ScriptClient}.
   */
  readonly cluster?: boolean;
}

/** Default key prefix. */
export const DEFAULT_REDIS_PREFIX = "budgetgate:";

/**
 * How long this process remembers which ledgers a hold is on (so that `release`, which names only
 * the hold, can find its keys) beyond the hold's TTL and late-commit window.
 */
const HOLD_MEMORY_MARGIN_MS = 60_000;

interface HeldLines {
  readonly lines: readonly StoreLine[];
  readonly forgetAt: number;
}

/**
 * A {@link Store} on Redis, shared by every process and host that uses the same server and prefix.
 * Every operation is one Lua script: atomic on the server and one round trip. Amounts stay exact
 * (decimal strings, added in integer limbs in Lua); time comes from the server's clock unless the
 * engine has a clock of its own; a call that arrives at the server after the engine gave up on it
 * changes nothing, and calls fail at once while the connection is down instead of queueing.
 *
 * Takes an ioredis client (`new Redis()` or `new Cluster()`), a node-redis client
 * (`createClient()`, connected), or any {@link ScriptClient}. The store does not own the client:
 * close it yourself.
 *
 * @throws {ConfigurationError} if the client is not one of these, or an option is invalid.
 * @example
 * import Redis from "ioredis";
 * import { Engine } from "budgetgate";
 * import { RedisStore } from "budgetgate/redis";
 * const engine = new Engine({ store: new RedisStore(new Redis(process.env.REDIS_URL)) });
 */
export class RedisStore implements Store {
  readonly #client: ScriptClient;
  readonly #keys: KeySpace;
  readonly #clock = new ServerClock();
  readonly #holds = new Map<string, HeldLines>();
  #calibration: Promise<void> | undefined;
  /** Until the client has been ready once, calls may wait for the first connection. */
  #wasReady = false;

  constructor(client: RedisClient, options: RedisStoreOptions = {}) {
    if (options === null || typeof options !== "object") {
      throw new ConfigurationError(`Invalid RedisStore options ${show(options)}: expected an object`);
    }
    if (options.cluster !== undefined && typeof options.cluster !== "boolean") {
      throw new ConfigurationError(`Invalid RedisStore cluster option ${show(options.cluster)}: expected a boolean`);
    }
    this.#client = toScriptClient(client, options.cluster);
    this.#keys = new KeySpace(options.prefix ?? DEFAULT_REDIS_PREFIX, options.hashTag);
  }

  /** The key prefix in use. */
  get prefix(): string {
    return this.#keys.prefix;
  }

  /** True when the server is treated as a Redis Cluster. */
  get cluster(): boolean {
    return this.#client.cluster === true;
  }

  /** Checks that `amount` fits on every line and records it, in one script. */
  async charge(lines: readonly StoreLine[], amount: bigint, call: StoreCall): Promise<StoreVerdict> {
    const keys = this.#ledgerKeys(lines, "charge");
    const args = ["", nowArg(call), amount.toString()];
    for (const line of lines) args.push(line.maxSpend.toString(), windowArg(line.window));
    const reply = await this.#run(SCRIPTS.charge, flatten(keys), args, call);
    return verdict(reply, lines.length);
  }

  /** Checks that `amount` fits on every line and holds it, in one script. */
  async reserve(lines: readonly StoreLine[], amount: bigint, hold: Hold, call: StoreCall): Promise<StoreVerdict> {
    const keys = this.#ledgerKeys(lines, "reserve");
    const flat = flatten(keys);
    flat.push(this.#keys.hold((keys[0] as LedgerKeys).tag, hold.id));
    const args = ["", nowArg(call), amount.toString(), hold.id, String(hold.ttl), String(hold.retain)];
    for (const line of lines) args.push(line.maxSpend.toString(), windowArg(line.window));
    const started = monotonicMs();
    const reply = await this.#run(SCRIPTS.reserve, flat, args, call);
    const answer = verdict(reply, lines.length);
    if (answer.allowed) {
      this.#forgetOldHolds(started);
      this.#holds.set(hold.id, {
        lines,
        forgetAt: started + (hold.ttl + hold.retain) * 1000 + HOLD_MEMORY_MARGIN_MS,
      });
    }
    return answer;
  }

  /**
   * Replaces hold `id` by a spend of `actual`, in one script.
   * @throws {ReservationNotFoundError} if the hold is unknown, settled, or forgotten.
   */
  commit(id: string, lines: readonly StoreLine[], actual: bigint, call: StoreCall): Promise<SettleOutcome> {
    return this.#settle(id, lines, actual.toString(), call);
  }

  /**
   * Drops hold `id`, in one script.
   * @throws {ReservationNotFoundError} if the hold is unknown, settled, or forgotten; also when it
   * was made through another RedisStore object (this one must know which ledgers it is on).
   */
  release(id: string, call: StoreCall): Promise<SettleOutcome> {
    const held = this.#holds.get(id);
    if (held === undefined) {
      return Promise.reject(
        new ReservationNotFoundError(id, "this RedisStore made no such hold, or it was settled or forgotten"),
      );
    }
    return this.#settle(id, held.lines, "", call);
  }

  /** Spend in the window on one line, holds included. */
  async spent(line: StoreLine, call: StoreCall): Promise<bigint> {
    const keys = this.#keys.ledger(line.ledger, line.key);
    const reply = await this.#run(SCRIPTS.spent, flatten([keys]), ["", nowArg(call), windowArg(line.window)], call);
    return units(reply[3], "spent");
  }

  /** Deletes one ledger's keys, in one script. Holds on it then settle without touching it. */
  async clear(ledger: Ledger, call: StoreCall): Promise<void> {
    const keys = this.#keys.ledger(ledger, ledger.toString());
    await this.#run(SCRIPTS.clear, flatten([keys]), [""], call);
  }

  /**
   * Deletes every key under this store's prefix, a batch per round trip (SCAN), so it is not
   * atomic: run it when nothing else writes. Stops when the engine gives up on the call.
   * @throws {StoreError} on a Redis Cluster, where keys live on several servers.
   */
  async clearAll(call: StoreCall): Promise<void> {
    if (this.cluster) {
      throw new StoreError(
        "RedisStore.clearAll is not supported on a Redis Cluster (keys live on several nodes): clear ledgers one by one, or delete the prefix on each node",
      );
    }
    this.#holds.clear();
    let cursor = "0";
    do {
      if (call.signal.aborted) throw new StoreTimeoutError("clearAll", call.timeoutMs);
      const reply = await this.#send(SCRIPTS.scanDelete, [], [cursor, this.#keys.pattern, "1000"], call);
      if (typeof reply !== "string" && typeof reply !== "number") {
        throw new StoreError(`Redis clearAll script answered ${show(reply)}: expected a SCAN cursor`);
      }
      cursor = String(reply);
    } while (cursor !== "0");
  }

  async #settle(id: string, lines: readonly StoreLine[], actual: string, call: StoreCall): Promise<SettleOutcome> {
    const keys = this.#ledgerKeys(lines, actual === "" ? "release" : "commit");
    const flat = flatten(keys);
    flat.push(this.#keys.hold((keys[0] as LedgerKeys).tag, id));
    const args = ["", nowArg(call), id, actual];
    for (const line of lines) args.push(windowArg(line.window));
    const reply = await this.#run(SCRIPTS.settle, flat, args, call);
    const status = reply[0];
    if (status === 1 || status === 2 || status === 0) this.#holds.delete(id);
    if (status === 0) throw new ReservationNotFoundError(id);
    if (status !== 1 && status !== 2) throw badStatus(reply, "settle");
    return { late: status === 2 };
  }

  /** The keys of each line, refusing on a cluster a call whose ledgers would span slots. */
  #ledgerKeys(lines: readonly StoreLine[], operation: string): LedgerKeys[] {
    const keys = lines.map((line) => this.#keys.ledger(line.ledger, line.key));
    if (this.cluster && keys.length > 1) {
      const first = keys[0] as LedgerKeys;
      const other = keys.findIndex((k) => k.tag !== first.tag);
      if (other !== -1) {
        throw new ConfigurationError(
          `RedisStore cannot ${operation} ledgers ${(lines[0] as StoreLine).key} and ${(lines[other] as StoreLine).key} together on a Redis Cluster: their keys hash to different slots, so one script cannot update both atomically. Give ledgers charged together one hash tag with the hashTag option, e.g. hashTag: (ledger) => ledger.namespace`,
        );
      }
    }
    return keys;
  }

  /**
   * Runs a ledger script: sets the deadline argument (in server time), sends, and turns the reply
   * into an array whose first element is the status, after learning the server's clock from it.
   */
  async #run(script: Script, keys: string[], args: string[], call: StoreCall): Promise<unknown[]> {
    if (!this.#clock.calibrated) await this.#calibrate(call);
    args[0] = String(this.#clock.serverDeadlineUs(call.deadline));
    const reply = await this.#send(script, keys, args, call);
    if (!Array.isArray(reply) || reply.length < 3) {
      throw new StoreError(`Redis ${script.name} script answered ${show(reply)}: expected an array`);
    }
    this.#clock.observe(reply[1], reply[2], monotonicMs());
    const status = typeof reply[0] === "string" ? Number(reply[0]) : reply[0];
    if (status === -1) {
      // The server ran the script after the deadline (a replayed or long-delayed command); it
      // changed nothing, and the engine has given up or is about to.
      throw new StoreTimeoutError(script.name, call.timeoutMs);
    }
    reply[0] = status;
    return reply;
  }

  /** Sends a script by SHA-1, and by text if the server does not have it (after a restart). */
  async #send(script: Script, keys: string[], args: string[], call: StoreCall): Promise<unknown> {
    const client = this.#client;
    if (client.isReady !== undefined) {
      if (client.isReady()) this.#wasReady = true;
      else if (this.#wasReady) {
        // Queued, the command would run whenever Redis returns: fail now, and let the engine apply
        // the budget's onStoreError.
        throw new StoreError(`Redis ${script.name} failed: not connected to Redis; not queueing the command`);
      }
    }
    try {
      return await client.evalSha(script.sha1, keys, args);
    } catch (error) {
      if (!isNoScript(error)) throw wrap(error, script.name);
      if (call.signal.aborted) throw new StoreTimeoutError(script.name, call.timeoutMs);
      try {
        return await client.evalSource(script.source, keys, args);
      } catch (retry) {
        throw wrap(retry, script.name);
      }
    }
  }

  /** Learns the server's clock once, before the first deadline has to be expressed in it. */
  #calibrate(call: StoreCall): Promise<void> {
    this.#calibration ??= this.#send(SCRIPTS.time, [], [], call).then(
      (reply) => {
        this.#calibration = undefined;
        if (!Array.isArray(reply) || reply.length < 2) {
          throw new StoreError(`Redis TIME script answered ${show(reply)}: expected [seconds, microseconds]`);
        }
        this.#clock.observe(reply[0], reply[1], monotonicMs());
      },
      (error: unknown) => {
        this.#calibration = undefined;
        throw error;
      },
    );
    return this.#calibration;
  }

  /** Drops what this process remembers of holds past their late-commit window, oldest first. */
  #forgetOldHolds(now: number): void {
    for (const [id, held] of this.#holds) {
      if (held.forgetAt > now) return;
      this.#holds.delete(id);
    }
  }
}

function nowArg(call: StoreCall): string {
  return call.now === undefined ? "" : String(call.now);
}

function windowArg(window: number | null): string {
  return window === null ? "" : String(window);
}

function flatten(keys: readonly LedgerKeys[]): string[] {
  const flat: string[] = [];
  for (const k of keys) flat.push(k.totals, k.spends, k.holds);
  return flat;
}

function verdict(reply: unknown[], lines: number): StoreVerdict {
  const status = reply[0];
  if ((status !== 0 && status !== 1) || reply.length !== 3 + lines) throw badStatus(reply, "charge/reserve");
  const spent: bigint[] = [];
  for (let i = 0; i < lines; i++) spent.push(units(reply[3 + i], "charge/reserve"));
  return { allowed: status === 1, spent };
}

const DIGITS = /^\d+$/;

function units(value: unknown, script: string): bigint {
  if (typeof value === "string" && DIGITS.test(value)) return BigInt(value);
  throw new StoreError(
    `Redis ${script} script answered the amount ${show(value)}: expected a string of digits (a client that parses replies as JSON numbers loses digits; turn that off)`,
  );
}

function badStatus(reply: unknown[], script: string): StoreError {
  return new StoreError(`Redis ${script} script answered ${show(reply)}: unexpected status ${show(reply[0])}`);
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.includes("NOSCRIPT");
}

function wrap(error: unknown, script: string): StoreError {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StoreError(`Redis ${script} failed: ${message}`, { cause: error });
}
