/**
 * `budgetgate/redis`: A store shared by every process and host that reaches one Redis (6.2 or later): every
 * operation is one Lua script, atomic on the server. See docs/stores/redis.md.
 *
 * @module budgetgate/redis
 */
import {
  ConfigurationError,
  Ledger,
  PeriodRangeError,
  ReservationNotFoundError,
  StateError,
  StoreError,
  StoreTimeoutError,
} from "budgetgate";
import {
  type Hold,
  type Store,
  type StoreCall,
  type StoreCommit,
  type StoreLedgerEntry,
  type StoreLedgerState,
  type StoreLimit,
  type StoreLine,
  type StorePage,
  type StoreReading,
  type StoreScanQuery,
  type StoreSettlement,
  type StoreVerdict,
  type StoreWindowTotal,
  show,
} from "budgetgate/store";
import { amountOf } from "./arith.js";
import type { Answer, Reversal } from "./batch.js";
import { type RedisClient, type ScriptClient, toScriptClient } from "./driver.js";
import { KeySpace, type LedgerKeys } from "./keys.js";
import { OP, SCRIPTS } from "./scripts.js";
import { RedisTransport } from "./transport.js";

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
  /**
   * Whether to run the store's operations as a Redis Function (FCALL of a library the store loads
   * itself, named by the hash of its code) where the server and client allow it: the same code as
   * the script, less work per call on the server. The store turns to EVALSHA by itself, once, on
   * a server that refuses functions (Redis before 7, an ACL or a managed Redis that forbids
   * FUNCTION or FCALL); on a cluster it always uses EVALSHA. `false`: EVALSHA always. Default true.
   */
  readonly functions?: boolean;
}

/** Default key prefix: keys `budgetgate:v4:{…}`. @example new RedisStore(redis).prefix === DEFAULT_PREFIX // true */
export const DEFAULT_PREFIX = "budgetgate:";

/** Default {@link RedisStoreOptions.receiptTtlMs}. @example new RedisStore(redis, { receiptTtlMs: 6 * DEFAULT_RECEIPT_TTL_MS }) */
export const DEFAULT_RECEIPT_TTL_MS = 10_000;

/**
 * A {@link Store} on Redis, shared by every process and host that uses the same server and prefix.
 * Every operation runs inside one Lua function of a library the store loads (or, where the server
 * refuses functions, one Lua script called by SHA-1): atomic on the server and one round trip; the calls a process makes in the same tick share script calls. Amounts stay
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
    if (options.functions !== undefined && typeof options.functions !== "boolean") {
      throw new ConfigurationError(
        `Invalid RedisStore functions option ${show(options.functions)}: expected a boolean`,
      );
    }
    const ttl = options.receiptTtlMs ?? DEFAULT_RECEIPT_TTL_MS;
    if (typeof ttl !== "number" || !Number.isInteger(ttl) || ttl < 1000) {
      throw new ConfigurationError(
        `Invalid RedisStore receiptTtlMs ${show(ttl)}: expected a whole number of ms, at least 1000`,
      );
    }
    this.#keys = new KeySpace(options.prefix ?? DEFAULT_PREFIX, options.hashTag);
    this.#transport = new RedisTransport(
      toScriptClient(client, options.cluster),
      this.#keys,
      ttl,
      options.functions ?? true,
    );
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
   * True while operations run as a Redis Function (see {@link RedisStoreOptions.functions}); false
   * with `functions: false`, on a cluster, with a client that cannot call functions, and once the
   * server has refused them.
   * @example new RedisStore(redis, { functions: false }).functions // false
   */
  get functions(): boolean {
    return this.#transport.functions;
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

  /** Checks that `amount` fits every enforced limit of every line and records it, atomically. */
  async charge(lines: readonly StoreLine[], amount: bigint, call: StoreCall): Promise<StoreVerdict> {
    const keys = this.#ledgerKeys(lines, "charge");
    const amountText = amount.toString();
    const reversal: Reversal = { code: "c", amount: amountText, id: "", lines: lines.length };
    const answer = await this.#transport.run(
      "charge",
      OP.charge,
      keys,
      stateKeys(keys),
      `${amountText}\0`,
      lineLimits(lines),
      stateValues(lines),
      call,
      reversal,
    );
    return verdict(answer, lines, call, "charge");
  }

  /**
   * Checks that `amount` fits every enforced limit of every line and holds it, atomically.
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
    const fields = `${amountText}\0${hold.id}\0${hold.ttl}\0${hold.retain}\0`;
    const reversal: Reversal = { code: "r", amount: amountText, id: hold.id, lines: lines.length };
    const answer = await this.#transport.run(
      "reserve",
      OP.reserve,
      keys,
      declared,
      fields,
      lineLimits(lines),
      stateValues(lines),
      call,
      reversal,
    );
    return verdict(answer, lines, call, "reserve");
  }

  /**
   * Replaces hold `id` by a spend of `actual`, atomically, and tells each line's state before.
   * @throws {ReservationNotFoundError} if the hold is unknown, settled, or forgotten.
   */
  async commit(id: string, lines: readonly StoreLine[], actual: bigint, call: StoreCall): Promise<StoreCommit> {
    const actualText = actual.toString();
    const answer = await this.#settle(id, lines, actualText, call);
    const late = answer.status === 2;
    if (answer.values.length === 0 && lines.length > 0) {
      // A commit answered from its receipt (its answer was lost to a dropped connection): its
      // states before it are read again, less the actual recorded since.
      const readings = await Promise.all(lines.map((line) => this.read(line, call)));
      return {
        late,
        lines: readings.map(({ state }) => ({
          ...state,
          committed: state.committed.map((c) => (c > actual ? c - actual : 0n)),
        })),
        now: (readings[0] as StoreReading).now,
      };
    }
    return { late, lines: states(answer.values, 0, lines, "commit"), now: call.now ?? answer.now };
  }

  /**
   * Drops hold `id` from `lines`, atomically.
   * @throws {ReservationNotFoundError} if the hold is unknown, settled, or forgotten.
   */
  async release(id: string, lines: readonly StoreLine[], call: StoreCall): Promise<StoreSettlement> {
    const answer = await this.#settle(id, lines, "", call);
    return { late: answer.status === 2 };
  }

  /** One line's state now: committed per limit (creating the totals of windows it never saw), holds, newest spend. */
  async read(line: StoreLine, call: StoreCall): Promise<StoreReading> {
    const keys = [this.#keys.ledger(line.ledger, line.key)];
    const answer = await this.#transport.run(
      "read",
      OP.read,
      keys,
      stateKeys(keys),
      "",
      [limitsArg(line.limits)],
      stateValues([line]),
      call,
    );
    if (answer.status === -3) throw periodError(answer, [line]);
    if (answer.status !== 1) throw unexpected(answer, "read");
    return { state: states(answer.values, 0, [line], "read")[0] as StoreLedgerState, now: call.now ?? answer.now };
  }

  /**
   * One page of the ledgers under this store's prefix and layout whose key starts with
   * `query.prefix`: a SCAN step (COUNT about `query.limit`) in one script call, then every ledger
   * found read in one batch. A page may be empty and still have a next; a ledger SCAN returns
   * twice (Redis may, while it resizes its table) is listed once per page that holds it.
   * @throws {ConfigurationError} on a Redis Cluster, where keys live on several servers.
   */
  async scan(query: StoreScanQuery, call: StoreCall): Promise<StorePage> {
    if (this.cluster) {
      throw new ConfigurationError(
        "RedisStore.scan is not supported on a Redis Cluster (keys live on several nodes): list ledgers per node, or keep an index of your own",
      );
    }
    if (call.signal.aborted) throw new StoreTimeoutError("scan", call.timeoutMs);
    this.#transport.checkReady("scan");
    // The cursor is SCAN's, and after a slash how many of that step's keys earlier pages took
    // (a step may find more keys than a page holds).
    const [cursor = "0", skipText = "0"] = (query.cursor ?? "0").split("/");
    const skip = Number(skipText);
    if (!/^\d+$/.test(cursor) || !Number.isSafeInteger(skip) || skip < 0) {
      throw new ConfigurationError(`Invalid RedisStore scan cursor ${show(query.cursor)}`);
    }
    const reply = await this.#transport.send(
      SCRIPTS.scan,
      [],
      [cursor, this.#keys.statePattern(query.prefix), String(query.limit)],
    );
    if (!Array.isArray(reply) || reply.length < 3) {
      throw new StoreError(
        `Redis scan script answered ${show(reply)}: expected [cursor, seconds, microseconds, keys…]`,
      );
    }
    const next = String(reply[0]);
    const found: { key: string; ledger: Ledger; keys: LedgerKeys }[] = [];
    const seen = new Set<string>();
    for (const raw of reply.slice(3)) {
      const key = String(raw);
      const parsed = this.#keys.parseState(key);
      if (parsed === undefined || !parsed.ledger.startsWith(query.prefix) || seen.has(key)) continue;
      let ledger: Ledger;
      try {
        ledger = Ledger.parse(parsed.ledger);
      } catch {
        continue; // not a ledger this version wrote
      }
      seen.add(key);
      found.push({ key, ledger, keys: { tag: parsed.tag, state: key } });
    }
    const page = found.slice(skip, skip + query.limit);
    const rest = skip + query.limit < found.length ? `${cursor}/${skip + query.limit}` : next === "0" ? null : next;
    const answers = await Promise.all(
      page.map((entry) => this.#transport.run("scan", OP.list, [entry.keys], [entry.key], "", [], 0, call)),
    );
    const entries: StoreLedgerEntry[] = [];
    let now = call.now ?? (Number(reply[1]) * 1e6 + Number(reply[2])) / 1e6;
    answers.forEach((answer, i) => {
      if (answer.status === 0) return; // expired since SCAN saw it
      if (answer.status !== 1) throw unexpected(answer, "scan");
      const values = answer.values;
      const count = Number(values[0]);
      const windows: StoreWindowTotal[] = [];
      for (let w = 0; w < count; w++) {
        const at = 1 + 2 * w;
        windows.push({ id: String(values[at]), committed: units(values, at + 1, "scan") });
      }
      entries.push({
        ledger: (page[i] as { ledger: Ledger }).ledger,
        reserved: units(values, 1 + 2 * count, "scan"),
        windows,
      });
      if (call.now === undefined && answer.now > now) now = answer.now;
    });
    return { entries, cursor: rest, now };
  }

  /** Deletes one ledger's keys, atomically. Holds on it then settle without touching it. */
  async clear(ledger: Ledger, call: StoreCall): Promise<void> {
    const keys = [this.#keys.ledger(ledger, ledger.toString())];
    const answer = await this.#transport.run("clear", OP.clear, keys, stateKeys(keys), "", [], 0, call);
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

  async #settle(id: string, lines: readonly StoreLine[], actual: string, call: StoreCall): Promise<Answer> {
    // No hold has such an id (reserve refuses it), and it would not survive the wire format.
    if (id.includes("\0")) throw new ReservationNotFoundError(id);
    const name = actual === "" ? "release" : "commit";
    const keys = this.#ledgerKeys(lines, name);
    const declared = stateKeys(keys);
    declared.push(this.#keys.hold((keys[0] as LedgerKeys).tag, id));
    const fields = `${id}\0${actual}\0`;
    const limits = actual === "" ? [] : lineLimits(lines);
    const values = actual === "" ? 0 : stateValues(lines);
    const answer = await this.#transport.run(name, OP.settle, keys, declared, fields, limits, values, call);
    const status = answer.status;
    if (status === -3) throw periodError(answer, lines);
    if (status !== 0 && status !== 1 && status !== 2) throw unexpected(answer, "settle");
    if (status === 0) throw new ReservationNotFoundError(id);
    return answer;
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

/** Each line's limits as the script reads them (see limitsArg). */
function lineLimits(lines: readonly StoreLine[]): string[] {
  const texts: string[] = [];
  for (const line of lines) texts.push(limitsArg(line.limits));
  return texts;
}

/**
 * The limits' fields, remembered per limits array (they are readonly, and an engine sends one
 * budget's array again and again; the transport sends each distinct text once per batch, found by
 * the string itself): their count, then per limit its code (the kind's letter, a capital for a
 * shadow limit), window id and max, then a rolling window's seconds, a calendar window's number of
 * boundaries and the boundaries, or an empty field for a lifetime window.
 */
const encodedLimits = new WeakMap<readonly StoreLimit[], { text: string; parts: readonly unknown[] }>();

function limitsArg(limits: readonly StoreLimit[]): string {
  const cached = encodedLimits.get(limits);
  // The cache trusts the array only while each of its limits and windows is the object it encoded.
  if (cached !== undefined && sameParts(limits, cached.parts)) return cached.text;
  let text = `${limits.length}\0`;
  const parts: unknown[] = [];
  for (const limit of limits) {
    const window = limit.window;
    parts.push(limit, window);
    if (window.id.includes("\0")) {
      throw new ConfigurationError(`Invalid window id ${show(window.id)}: RedisStore takes ids without zero bytes`);
    }
    const code = window.kind === "rolling" ? "r" : window.kind === "calendar" ? "c" : "l";
    text += `${limit.enforce ? code : code.toUpperCase()}\0${window.id}\0${limit.maxSpend}\0`;
    if (window.kind === "rolling") text += `${window.seconds}\0`;
    else if (window.kind === "calendar") text += `${window.boundaries.length}\0${window.boundaries.join("\0")}\0`;
    else text += "\0";
  }
  encodedLimits.set(limits, { text, parts });
  return text;
}

function sameParts(limits: readonly StoreLimit[], parts: readonly unknown[]): boolean {
  if (parts.length !== 2 * limits.length) return false;
  for (let i = 0; i < limits.length; i++) {
    const limit = limits[i] as StoreLimit;
    if (parts[2 * i] !== limit || parts[2 * i + 1] !== limit.window) return false;
  }
  return true;
}

function stateKeys(keys: readonly LedgerKeys[]): string[] {
  return keys.map((k) => k.state);
}

/** Values of the lines' states in an answer: committed per limit, reserved, the newest time. */
function stateValues(lines: readonly StoreLine[]): number {
  let count = 0;
  for (const line of lines) count += line.limits.length + 2;
  return count;
}

/** The lines' states as an answer carries them from `values[at]` on (see stateValues). */
function states(
  values: readonly unknown[],
  at: number,
  lines: readonly StoreLine[],
  script: string,
): StoreLedgerState[] {
  const result: StoreLedgerState[] = [];
  for (const line of lines) {
    const committed: bigint[] = [];
    for (let j = 0; j < line.limits.length; j++) committed.push(units(values, at++, script));
    const reserved = units(values, at++, script);
    result.push({ committed, reserved, newest: time(values[at++], script) });
  }
  return result;
}

/**
 * A time as the script answers it: whole microseconds as an integer, other times as their digits
 * after a "t", none as null.
 */
function time(value: unknown, script: string): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "number" && Number.isInteger(value)) return value / 1e6;
  if (typeof value === "string") {
    if (value.startsWith("t")) {
      const t = Number(value.slice(1));
      if (value.length > 1 && !Number.isNaN(t)) return t;
    } else if (/^-?\d+$/.test(value)) {
      return Number(value) / 1e6;
    }
  }
  throw new StateError(
    `Redis ${script} script answered the time ${show(value)}: expected microseconds or "t" and digits`,
  );
}

function verdict(answer: Answer, lines: readonly StoreLine[], call: StoreCall, script: string): StoreVerdict {
  const status = answer.status;
  if (status === -3) throw periodError(answer, lines);
  if (status !== 0 && status !== 1) throw unexpected(answer, script);
  return { allowed: status === 1, lines: states(answer.values, 0, lines, script), now: call.now ?? answer.now };
}

/** The PeriodRangeError of a calendar limit whose boundaries did not hold the ledger's time. */
function periodError(answer: Answer, lines: readonly StoreLine[]): Error {
  const [line, limit, at] = answer.values;
  const window = lines[Number(line) - 1]?.limits[Number(limit) - 1]?.window;
  const t = time(at, "period");
  if (window === undefined || t === null) throw unexpected(answer, "period");
  return new PeriodRangeError(window.id, t);
}

/** The amount at `values[at]`. */
function units(values: readonly unknown[], at: number, script: string): bigint {
  const amount = amountOf(values[at]);
  if (amount !== undefined) return amount;
  throw new StateError(
    `Redis ${script} script answered the amount ${show(values[at])}: expected an integer below 10^15 or "u" and digits`,
  );
}

function unexpected(answer: Answer, operation: string): StateError {
  return new StateError(
    `Redis ${operation} script answered ${show([answer.status, ...answer.values])}: unexpected status`,
  );
}
