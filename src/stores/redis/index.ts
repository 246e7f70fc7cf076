/**
 * `budgetgate/redis`: A store shared by every process and host that reaches one Redis (6.2 or later): every
 * operation is one Lua script, atomic on the server. See docs/stores/redis.md.
 *
 * @module budgetgate/redis
 */
import { randomBytes } from "node:crypto";
import {
  type BudgetGateError,
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
import { joinLimbs } from "./arith.js";
import { type Answer, Batcher, type Operation, type Reversal } from "./batch.js";
import { type RedisClient, type ScriptClient, toScriptClient } from "./driver.js";
import { KeySpace, type LedgerKeys } from "./keys.js";
import { LAYOUT_VERSION, layoutMismatch } from "./layout.js";
import { OP, SCRIPTS, type Script } from "./scripts.js";
import { monotonicMs, ServerClock } from "./server-clock.js";

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

const NEVER_ABORTED = new AbortController().signal;

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
  readonly #client: ScriptClient;
  readonly #keys: KeySpace;
  readonly #clock = new ServerClock();
  readonly #batcher: Batcher;
  /** Batch ids are this, a dot, and a counter: unique across processes and store objects. */
  readonly #instance = randomBytes(8).toString("hex");
  #batches = 0;
  readonly #receiptTtlMs: number;
  #pendingReversals = 0;
  #lostReversals = 0;
  #calibration: Promise<void> | undefined;
  /** Settles once the prefix's marker names this layout; retried after a failure to read it. */
  #layout: Promise<void> | undefined;
  #layoutClaimed = false;

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
    this.#receiptTtlMs = ttl;
    this.#client = toScriptClient(client, options.cluster);
    this.#keys = new KeySpace(options.prefix ?? DEFAULT_PREFIX, options.hashTag);
    this.#batcher = new Batcher((operations) => this.#dispatch(operations), this.cluster);
  }

  /** The key prefix in use. */
  get prefix(): string {
    return this.#keys.prefix;
  }

  /** True when the server is treated as a Redis Cluster. */
  get cluster(): boolean {
    return this.#client.cluster === true;
  }

  /**
   * Charges and holds that took effect although their caller was told they failed, and whose
   * reversal has not reached Redis yet (it is retried until it does, while the receipt lives).
   */
  get pendingReversals(): number {
    return this.#pendingReversals;
  }

  /**
   * Reversals given up: Redis stayed unreachable for longer than a batch's receipt lives
   * (`receiptTtlMs`), so those calls may have been recorded although they were reported failed.
   */
  get lostReversals(): number {
    return this.#lostReversals;
  }

  /** Checks that `amount` fits on every line and records it, atomically. */
  async charge(lines: readonly StoreLine[], amount: bigint, call: StoreCall): Promise<StoreVerdict> {
    const keys = this.#ledgerKeys(lines, "charge");
    const amountText = amount.toString();
    const reversal: Reversal = { code: "c", amount: amountText, id: "", lines };
    const answer = await this.#run(
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
    return verdict(await this.#run("reserve", OP.reserve, keys, declared, fields, call, reversal), lines.length);
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
    const answer = await this.#run("spent", OP.spent, keys, stateKeys(keys), `${windowArg(line)}\0`, call);
    if (answer.status !== 1) throw unexpected(answer, "spent");
    return units(answer.values, 0, "spent");
  }

  /** Deletes one ledger's keys, atomically. Holds on it then settle without touching it. */
  async clear(ledger: Ledger, call: StoreCall): Promise<void> {
    const keys = [this.#keys.ledger(ledger, ledger.toString())];
    const answer = await this.#run("clear", OP.clear, keys, stateKeys(keys), "", call);
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
      this.#checkReady("clearAll");
      const reply = await this.#send(SCRIPTS.scanDelete, [], [cursor, this.#keys.pattern, "1000"]);
      if (typeof reply !== "string" && typeof reply !== "number") {
        throw new StoreError(`Redis clearAll script answered ${show(reply)}: expected a SCAN cursor`);
      }
      cursor = String(reply);
    } while (cursor !== "0");
    // The prefix holds nothing now: the next store to use it, of whichever layout, claims it anew.
    this.#layoutClaimed = false;
    await this.#send(SCRIPTS.unclaim, [this.#keys.marker], [String(LAYOUT_VERSION)]);
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
    const answer = await this.#run(name, OP.settle, keys, declared, fields, call);
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

  /**
   * Queues one operation for the next batch and waits for its answer (status first). Fails at once
   * while the connection is down.
   */
  #run(
    name: string,
    code: string,
    ledgers: readonly LedgerKeys[],
    keys: string[],
    fields: string,
    call: StoreCall,
    reversal?: Reversal,
  ): Promise<Answer> {
    this.#checkReady(name);
    const tag = (ledgers[0] as LedgerKeys).tag;
    // When the engine gives up, on this process's monotonic clock (immune to wall-clock steps).
    const giveUpAt = monotonicMs() + (call.deadline - Date.now());
    return new Promise<Answer>((resolve, reject) => {
      this.#batcher.push({
        name,
        code,
        keys,
        fields,
        call,
        giveUpAt,
        tag,
        resolve,
        reject,
        ...(reversal ? { reversal } : {}),
      });
    }).then((answer) => {
      const status = answer.status;
      if (status === -1) {
        // The server ran the operation after its deadline (a replayed or long-delayed command): it
        // changed nothing, and the engine has given up or is about to.
        throw new StoreTimeoutError(name, call.timeoutMs);
      }
      if (status === -2) throw scriptError(name, String(answer.values[0]));
      return answer;
    });
  }

  /** Sends a batch as one script call and hands each operation its answer. */
  async #dispatch(operations: Operation[]): Promise<void> {
    const receipt = this.#keys.receipt((operations[0] as Operation).tag, `${this.#instance}.${++this.#batches}`);
    let live = operations;
    let sent = false;
    try {
      if (!this.#layoutClaimed) await this.#claimLayout();
      if (!this.#clock.calibrated) await this.#calibrate();
      const send = (fallback: boolean) => {
        const keys: string[] = [receipt];
        const args: string[] = [String(this.#receiptTtlMs)];
        for (const op of live) {
          const deadline = Number.isFinite(op.giveUpAt) ? this.#clock.serverTimeUs(op.giveUpAt) : "";
          args.push(`${op.code}\0${op.keys.length}\0${deadline}\0${nowArg(op.call)}\0${op.fields}`);
          for (const key of op.keys) keys.push(key);
        }
        sent = true;
        return fallback
          ? this.#client.evalSource(SCRIPTS.batch.source, keys, args)
          : this.#client.evalSha(SCRIPTS.batch.sha1, keys, args);
      };
      let reply: unknown;
      try {
        reply = await send(false);
      } catch (error) {
        if (!isNoScript(error)) throw error;
        // The server lost its script cache (a restart), so nothing ran: send the text, but not
        // for calls the engine has already given up on.
        live = live.filter((op) => {
          if (monotonicMs() < op.giveUpAt) return true;
          op.reject(new StoreTimeoutError(op.name, op.call.timeoutMs));
          return false;
        });
        if (live.length === 0) return;
        reply = await send(true);
      }
      this.#deliver(live, reply, receipt);
    } catch (error) {
      const failure = error instanceof ConfigurationError ? error : wrap(error, "batch");
      for (const op of live) op.reject(failure);
      // The batch may have run without its answer reaching us (a dropped connection): reverse what
      // it may have done, or make sure it never does.
      if (sent)
        this.#reverse(
          receipt,
          live.map((op, i) => ({ op, index: i + 1 })),
        );
    }
  }

  /** Splits a batch reply into each operation's answer. */
  #deliver(operations: readonly Operation[], reply: unknown, receipt: string): void {
    if (Array.isArray(reply) && reply[0] === "R") {
      this.#replayed(operations, String(reply[1]), receipt);
      return;
    }
    if (!Array.isArray(reply)) throw new StoreError(`Redis batch script answered ${show(reply)}: expected an array`);
    const answers = splitAnswers(operations, reply);
    this.#clock.observe(reply[0], reply[1], monotonicMs());
    const late: { op: Operation; index: number }[] = [];
    const now = monotonicMs();
    for (let i = 0; i < operations.length; i++) {
      const op = operations[i] as Operation;
      const answer = answers[i] as Answer;
      // Ran in time by the server's clock, but answered when the engine gives up (or has given up
      // and reported a failure): a charge or hold nobody would settle. Report it failed, so that
      // an engine still waiting agrees, and reverse it.
      if (op.reversal && answer.status === 1 && now >= op.giveUpAt - 1) {
        late.push({ op, index: i + 1 });
        op.reject(new StoreTimeoutError(op.name, op.call.timeoutMs));
      } else {
        op.resolve(answer);
      }
    }
    if (late.length > 0) this.#reverse(receipt, late);
  }

  /**
   * Answers a batch that Redis had already run (the client sent it again after a dropped
   * connection), from its receipt: charges and holds are reversed and reported failed, since
   * their answers are lost; settlements are answered as they went.
   */
  #replayed(operations: readonly Operation[], receiptText: string, receipt: string): void {
    const statuses = receiptText === "X" ? "" : (receiptText.split("|")[2] ?? "");
    const reverse: { op: Operation; index: number }[] = [];
    operations.forEach((op, i) => {
      const status = statuses[i];
      const name = op.name;
      if (status === undefined) {
        op.reject(new StoreError(`Redis ${name} failed: the call was cancelled after a dropped connection`));
      } else if (op.reversal) {
        if (status === "1") reverse.push({ op, index: i + 1 });
        op.reject(
          new StoreError(
            `Redis ${name} failed: the connection dropped before the answer arrived${status === "1" ? "; the call is being undone" : ""}`,
          ),
        );
      } else if (op.code === OP.settle && (status === "0" || status === "1" || status === "2")) {
        op.resolve({ status: Number(status), values: [] });
      } else if ((op.code === OP.clear || op.code === OP.undo) && status === "1") {
        op.resolve({ status: 1, values: [] });
      } else {
        op.reject(new StoreError(`Redis ${name} failed: the connection dropped before the answer arrived`));
      }
    });
    if (reverse.length > 0) this.#reverse(receipt, reverse);
  }

  /**
   * Reverses, in the background, the charges and holds of a batch that may have taken effect
   * although their callers were told they failed: an undo operation, retried until Redis takes it
   * (for as long as the batch's receipt lives). Undo is idempotent, and on a batch that never ran
   * it leaves a tombstone, so that the batch never will.
   */
  #reverse(receipt: string, entries: readonly { op: Operation; index: number }[]): void {
    const reversible = entries.filter((e) => e.op.reversal !== undefined);
    if (reversible.length === 0) return;
    const keys = [receipt];
    let fields = `${reversible.length}\0`;
    for (const { op, index } of reversible) {
      const r = op.reversal as Reversal;
      fields += `${index}\0${r.code}\0${r.lines.length}\0${r.amount}\0${nowArg(op.call)}\0${r.id}\0`;
      for (const line of r.lines) fields += `${windowArg(line)}\0`;
      for (const key of op.keys) keys.push(key);
    }
    const first = (reversible[0] as { op: Operation }).op;
    const tag = first.tag;
    // No deadline: it must run whenever Redis is reachable again. The clock of the calls it undoes,
    // so that the expiries it runs on the way agree with theirs.
    const call: StoreCall = {
      now: first.call.now,
      timeoutMs: this.#receiptTtlMs,
      deadline: Number.POSITIVE_INFINITY,
      signal: NEVER_ABORTED,
    };
    const giveUpAt = monotonicMs() + this.#receiptTtlMs - 500;
    this.#pendingReversals += reversible.length;
    const attempt = (delay: number): void => {
      if (monotonicMs() > giveUpAt) {
        this.#pendingReversals -= reversible.length;
        this.#lostReversals += reversible.length;
        return;
      }
      const retry = () => setTimeout(() => attempt(Math.min(delay * 2, 2_000)), delay).unref();
      if (this.#client.isReady !== undefined && !this.#client.isReady()) {
        retry();
        return;
      }
      new Promise<Answer>((resolve, reject) => {
        this.#batcher.push({
          name: "undo",
          code: OP.undo,
          keys,
          fields,
          call,
          giveUpAt: Number.POSITIVE_INFINITY,
          tag,
          resolve,
          reject,
        });
      }).then((answer) => {
        if (answer.status === 1) this.#pendingReversals -= reversible.length;
        else retry();
      }, retry);
    };
    attempt(50);
  }

  /** Throws while the connection is down: a queued command would run late. */
  #checkReady(operation: string): void {
    const client = this.#client;
    if (client.isReady !== undefined && !client.isReady()) {
      throw new StoreError(`Redis ${operation} failed: not connected to Redis; not queueing the command`);
    }
  }

  /** Sends a script by SHA-1, and by text if the server does not have it (after a restart). */
  async #send(script: Script, keys: string[], args: string[]): Promise<unknown> {
    try {
      return await this.#client.evalSha(script.sha1, keys, args);
    } catch (error) {
      if (!isNoScript(error)) throw wrap(error, script.name);
      try {
        return await this.#client.evalSource(script.source, keys, args);
      } catch (retry) {
        throw wrap(retry, script.name);
      }
    }
  }

  /**
   * Checks once, before the first batch, that the prefix's marker names this layout (writing it if
   * the prefix has none yet).
   * @throws {ConfigurationError} if it names another: keys written by another version of budgetgate.
   */
  #claimLayout(): Promise<void> {
    const marker = this.#keys.marker;
    this.#layout ??= this.#send(SCRIPTS.layout, [marker], [String(LAYOUT_VERSION)]).then(
      (reply) => {
        this.#layout = undefined;
        const found = Array.isArray(reply) ? reply[0] : reply;
        if (String(found) !== String(LAYOUT_VERSION)) throw layoutMismatch(this.prefix, marker, found);
        this.#layoutClaimed = true;
      },
      (error: unknown) => {
        this.#layout = undefined;
        throw error;
      },
    );
    return this.#layout;
  }

  /** Learns the server's clock once, before the first deadline has to be expressed in it. */
  #calibrate(): Promise<void> {
    this.#calibration ??= this.#send(SCRIPTS.time, [], []).then(
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
}

function nowArg(call: StoreCall): string {
  return call.now === undefined ? "" : String(call.now);
}

function windowArg(line: StoreLine): string {
  return line.window === null ? "" : String(line.window);
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

/**
 * Splits a batch's flat reply (server time, then per operation its status and values, see
 * scripts.ts) into each operation's answer.
 */
function splitAnswers(operations: readonly Operation[], reply: readonly unknown[]): Answer[] {
  const answers: Answer[] = [];
  let at = 2;
  for (const op of operations) {
    const status = Number(reply[at]);
    const end = at + 1 + (status === -1 ? 0 : status === -2 ? 1 : valueCount(op));
    if (end > reply.length) break;
    answers.push({ status, values: reply.slice(at + 1, end) });
    at = end;
  }
  if (answers.length !== operations.length || at !== reply.length) {
    throw new StoreError(
      `Redis batch script answered ${show(reply)}: expected the server time and the answers of ${operations.length} operations`,
    );
  }
  return answers;
}

/** Values per amount in an answer: its limbs (see arith.ts). */
const LIMBS = 3;

/**
 * How many values an operation that ran answers, by its code: so every answer has the length its
 * operation expects, and readers need not check it.
 */
function valueCount(op: Operation): number {
  if (op.code === OP.charge) return LIMBS * op.keys.length;
  if (op.code === OP.reserve) return LIMBS * (op.keys.length - 1); // its last key is the hold's
  if (op.code === OP.spent) return LIMBS;
  return 0;
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

/**
 * An operation that failed inside the script (it reads and decides before it writes). Corrupt or
 * foreign data under the store's keys is a StateError; anything else the server refused (out of
 * memory, a read-only replica) a StoreError.
 */
function scriptError(operation: string, message: string): BudgetGateError {
  if (/corrupt budgetgate|WRONGTYPE/.test(message)) {
    return new StateError(
      `Redis ${operation}: unreadable state under the store's keys (${message}); nothing was written`,
    );
  }
  return new StoreError(`Redis ${operation} script failed: ${message}`);
}

function unexpected(answer: Answer, operation: string): StateError {
  return new StateError(
    `Redis ${operation} script answered ${show([answer.status, ...answer.values])}: unexpected status`,
  );
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.includes("NOSCRIPT");
}

function wrap(error: unknown, script: string): StoreError {
  if (error instanceof StoreError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new StoreError(`Redis ${script} failed: ${message}`, { cause: error });
}
