/**
 * `budgetgate/redis`: A store shared by every process and host that reaches one Redis (6.2 or later): every
 * operation is one Lua script, atomic on the server. See docs/stores/redis.md.
 *
 * @module budgetgate/redis
 */
import {
  ConfigurationError,
  type Ledger,
  ReservationNotFoundError,
  StateError,
  StoreError,
  StoreTimeoutError,
} from "budgetgate";
import {
  type Hold,
  type Store,
  type StoreCall,
  type StoreLine,
  type StoreSettlement,
  type StoreVerdict,
  show,
} from "budgetgate/store";
import { joinLimbs, LIMBS } from "./arith.js";
import type { Answer, Reversal } from "./batch.js";
import { type RedisClient, type ScriptClient, toScriptClient } from "./driver.js";
import { KeySpace, type LedgerKeys } from "./keys.js";
import { OP, SCRIPTS } from "./scripts.js";
import { RedisTransport, windowArg } from "./transport.js";

export type {
  IoRedisClient,
  NodeRedisClient,
  NodeRedisEvalOptions,
  RedisClient,
  ScriptClient,
} from "./driver.js";
export { escapeKeyPart } from "./keys.js";
export { LAYOUT_VERSION } from "./layout.js";

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
  /**
   * How long, in ms, Redis keeps the receipt of each batch of calls that changed something. Within
   * it, a batch that a client sends again after a dropped connection is not applied twice, and one
   * whose answer was lost is reversed once Redis is reachable again; an outage longer than this
   * may leave a charge recorded that was reported failed. Receipts cost about 100 bytes each.
   * Default 10 000.
   */
  readonly receiptTtlMs?: number;
}

/** Default key prefix: keys `budgetgate:v3:{…}`. @example new RedisStore(redis).prefix === DEFAULT_PREFIX // true */
export const DEFAULT_PREFIX = "budgetgate:";

/** Default {@link RedisStoreOptions.receiptTtlMs}. @example new RedisStore(redis, { receiptTtlMs: 6 * DEFAULT_RECEIPT_TTL_MS }) */
export const DEFAULT_RECEIPT_TTL_MS = 10_000;

/**
 * A {@link Store} on Redis, shared by every process and host that uses the same server and prefix.
 * Every operation runs inside one Lua script (loaded once, called by SHA-1): atomic on the server
 * and one round trip; the calls a process makes in the same tick share script calls. Amounts stay
 * exact (decimal strings, added in integer limbs in Lua); time comes from the server's clock unless
 * the engine has a clock of its own. A call that reaches the server after the engine gave up on it
 * changes nothing; one that took effect although the engine reported it failed is reversed; calls
 * fail at once while the connection is down instead of queueing.
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
  readonly #keys: KeySpace;
  readonly #transport: RedisTransport;

  constructor(client: RedisClient, options: RedisStoreOptions = {}) {
    if (options === null || typeof options !== "object") {
      throw new ConfigurationError(`Invalid RedisStore options ${show(options)}: expected an object`);
    }
    if (options.cluster !== undefined && typeof options.cluster !== "boolean") {
      throw new ConfigurationError(`Invalid RedisStore cluster option ${show(options.cluster)}: expected a boolean`);
    }
    const ttl = options.receiptTtlMs ?? DEFAULT_RECEIPT_TTL_MS;
    if (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 1000) {
      throw new ConfigurationError(
        `Invalid RedisStore receiptTtlMs ${show(ttl)}: expected a whole number of ms, at least 1000`,
      );
    }
    this.#keys = new KeySpace(options.prefix ?? DEFAULT_PREFIX, options.hashTag);
    this.#transport = new RedisTransport(toScriptClient(client, options.cluster), this.#keys, ttl);
  }

  /** The key prefix in use. */
  get prefix(): string {
    return this.#keys.prefix;
  }

  /** True when the server is treated as a Redis Cluster. */
  get cluster(): boolean {
    return this.#transport.cluster;
  }

  /**
   * Charges and holds that took effect although their caller was told they failed, and whose
   * reversal has not reached Redis yet (it is retried until it does, while the receipt lives).
   */
  get pendingReversals(): number {
    return this.#transport.pendingReversals;
  }

  /**
   * Reversals given up: Redis stayed unreachable for longer than a batch's receipt lives
   * (`receiptTtlMs`), so those calls may have been recorded although they were reported failed.
   */
  get lostReversals(): number {
    return this.#transport.lostReversals;
  }

  /** Checks that `amount` fits on every line and records it, atomically. */
  async charge(lines: readonly StoreLine[], amount: bigint, call: StoreCall): Promise<StoreVerdict> {
    const keys = this.#ledgerKeys(lines, "charge");
    const amountText = amount.toString();
    const reversal: Reversal = { code: "c", amount: amountText, id: "", lines };
    const answer = await this.#transport.run(
      "charge",
      OP.charge,
      keys,
      stateKeys(keys),
      `${amountText}\0${limitFields(lines)}`,
      call,
      reversal,
    );
    return verdict(answer, lines.length);
  }

  /**
   * Checks that `amount` fits on every line and holds it, atomically.
   * @throws {ConfigurationError} if the hold's id holds a zero byte (the engine's are UUIDs).
   */
  async reserve(lines: readonly StoreLine[], amount: bigint, hold: Hold, call: StoreCall): Promise<StoreVerdict> {
    if (hold.id.includes("\0")) {
      throw new ConfigurationError(
        `Invalid hold id ${show(hold.id)}: RedisStore takes ids without zero bytes, such as UUIDs`,
      );
    }
    const keys = this.#ledgerKeys(lines, "reserve");
    const declared = stateKeys(keys);
    declared.push(this.#keys.hold((keys[0] as LedgerKeys).tag, hold.id));
    const amountText = amount.toString();
    const fields = `${amountText}\0${hold.id}\0${hold.ttl}\0${hold.retain}\0${limitFields(lines)}`;
    const reversal: Reversal = { code: "r", amount: amountText, id: hold.id, lines };
    return verdict(
      await this.#transport.run("reserve", OP.reserve, keys, declared, fields, call, reversal),
      lines.length,
    );
  }

  /**
   * Replaces hold `id` by a spend of `actual`, atomically.
   * @throws {ReservationNotFoundError} if the hold is unknown, settled, or forgotten.
   */
  commit(id: string, lines: readonly StoreLine[], actual: bigint, call: StoreCall): Promise<StoreSettlement> {
    return this.#settle(id, lines, actual.toString(), call);
  }

  /**
   * Drops hold `id` from `lines`, atomically.
   * @throws {ReservationNotFoundError} if the hold is unknown, settled, or forgotten.
   */
  release(id: string, lines: readonly StoreLine[], call: StoreCall): Promise<StoreSettlement> {
    return this.#settle(id, lines, "", call);
  }

  /** Spend in the window on one line, holds included. */
  async spent(line: StoreLine, call: StoreCall): Promise<bigint> {
    const keys = [this.#keys.ledger(line.ledger, line.key)];
    const answer = await this.#transport.run("spent", OP.spent, keys, stateKeys(keys), `${windowArg(line)}\0`, call);
    if (answer.status !== 1) throw unexpected(answer, "spent");
    return units(answer.values, 0, "spent");
  }

  /** Deletes one ledger's keys, atomically. Holds on it then settle without touching it. */
  async clear(ledger: Ledger, call: StoreCall): Promise<void> {
    const keys = [this.#keys.ledger(ledger, ledger.toString())];
    const answer = await this.#transport.run("clear", OP.clear, keys, stateKeys(keys), "", call);
    if (answer.status !== 1) throw unexpected(answer, "clear");
  }

  /**
   * Deletes every key under this store's prefix, a batch per round trip (SCAN), so it is not
   * atomic: run it when nothing else writes. Keys of another layout are left alone. Stops when the engine gives up on the call.
   * @throws {ConfigurationError} on a Redis Cluster, where keys live on several servers.
   */
  async clearAll(call: StoreCall): Promise<void> {
    if (this.cluster) {
      throw new ConfigurationError(
        "RedisStore.clearAll is not supported on a Redis Cluster (keys live on several nodes): clear ledgers one by one, or delete the prefix on each node",
      );
    }
    let cursor = "0";
    do {
      if (call.signal.aborted) throw new StoreTimeoutError("clearAll", call.timeoutMs);
      this.#transport.checkReady("clearAll");
      const reply = await this.#transport.send(SCRIPTS.scanDelete, [], [cursor, this.#keys.pattern, "1000"]);
      if (typeof reply !== "string" && typeof reply !== "number") {
        throw new StoreError(`Redis clearAll script answered ${show(reply)}: expected a SCAN cursor`);
      }
      cursor = String(reply);
    } while (cursor !== "0");
    await this.#transport.unclaimLayout();
  }

  async #settle(id: string, lines: readonly StoreLine[], actual: string, call: StoreCall): Promise<StoreSettlement> {
    // No hold has such an id (reserve refuses it), and it would not survive the wire format.
    if (id.includes("\0")) throw new ReservationNotFoundError(id);
    const name = actual === "" ? "release" : "commit";
    const keys = this.#ledgerKeys(lines, name);
    const declared = stateKeys(keys);
    declared.push(this.#keys.hold((keys[0] as LedgerKeys).tag, id));
    let fields = `${id}\0${actual}\0`;
    for (const line of lines) fields += `${windowArg(line)}\0`;
    const answer = await this.#transport.run(name, OP.settle, keys, declared, fields, call);
    const status = answer.status;
    if (status !== 0 && status !== 1 && status !== 2) throw unexpected(answer, "settle");
    if (status === 0) throw new ReservationNotFoundError(id);
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
}

/** Each line's limit and window, as charge and reserve take them. */
function limitFields(lines: readonly StoreLine[]): string {
  let fields = "";
  for (const line of lines) fields += `${line.maxSpend}\0${windowArg(line)}\0`;
  return fields;
}

function stateKeys(keys: readonly LedgerKeys[]): string[] {
  return keys.map((k) => k.state);
}

function verdict(answer: Answer, lines: number): StoreVerdict {
  const status = answer.status;
  if (status !== 0 && status !== 1) throw unexpected(answer, "charge/reserve");
  const spent: bigint[] = [];
  for (let i = 0; i < lines; i++) spent.push(units(answer.values, LIMBS * i, "charge/reserve"));
  return { allowed: status === 1, spent };
}

/** The amount whose three limbs start at `values[at]`. */
function units(values: readonly unknown[], at: number, script: string): bigint {
  const amount = joinLimbs(values[at], values[at + 1], values[at + 2]);
  if (amount !== undefined) return amount;
  throw new StateError(
    `Redis ${script} script answered the limbs ${show(values.slice(at, at + LIMBS))}: expected three integers below 10^15`,
  );
}

function unexpected(answer: Answer, operation: string): StateError {
  return new StateError(
    `Redis ${operation} script answered ${show([answer.status, ...answer.values])}: unexpected status`,
  );
}
