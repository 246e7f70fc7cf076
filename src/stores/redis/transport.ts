/**
 * The reliable batch transport under RedisStore: it sends the operations the store makes, batched
 * per tick (batch.ts), as one script call each, and hands every operation its answer. Around that
 * call it keeps the guarantees a dropped connection would break: each batch leaves a receipt, so a
 * batch sent again is not applied twice and is answered from the receipt (replay); a charge or hold
 * that took effect although its caller was told it failed is undone in the background (reversal);
 * deadlines are expressed in the server's clock, learnt before the first batch (calibration) in
 * the same round trip as the check of the prefix's key layout (layout.ts).
 *
 * The seam with the store is small: {@link RedisTransport.run} takes an operation (its code, keys
 * and fields as scripts.ts reads them) and resolves to its {@link Answer}; {@link RedisTransport.send}
 * runs one of the other scripts. The store builds operations and reads answers; it never sees a
 * batch, a receipt or the server's clock.
 */
import { randomBytes } from "node:crypto";
import { type BudgetGateError, ConfigurationError, StateError, StoreError, StoreTimeoutError } from "budgetgate";
import { describeError, type StoreCall, show, type TickQueue } from "budgetgate/store";
import { type Answer, type Operation, type Reversal, redisBatcher } from "./batch.js";
import type { ScriptClient } from "./driver.js";
import type { KeySpace, LedgerKeys } from "./keys.js";
import { LAYOUT_VERSION, layoutMismatch } from "./layout.js";
import { BatchRunner } from "./runner.js";
import { OP, SCRIPTS, type Script } from "./scripts.js";
import { monotonicMs, ServerClock } from "./server-clock.js";

const NEVER_ABORTED = new AbortController().signal;

/** Sends RedisStore's operations to one Redis, through one client, under one prefix. */
export class RedisTransport {
  readonly #client: ScriptClient;
  readonly #runner: BatchRunner;
  readonly #keys: KeySpace;
  readonly #clock = new ServerClock();
  readonly #batcher: TickQueue<Operation>;
  /** Batch ids are this, a dot, and a counter: unique across processes and store objects. */
  readonly #instance = randomBytes(8).toString("hex");
  #batches = 0;
  readonly #receiptTtlMs: number;
  #pendingReversals = 0;
  #lostReversals = 0;
  /** Settles once the prefix's marker names this layout; retried after a failure to read it. */
  #layout: Promise<void> | undefined;
  #layoutClaimed = false;

  /**
   * `receiptTtlMs` is validated by the store. `functions`: run batches as a Redis Function where
   * the server allows it (never on a cluster, where a library would have to be loaded on every
   * node), else as a script.
   */
  constructor(client: ScriptClient, keys: KeySpace, receiptTtlMs: number, functions: boolean) {
    this.#client = client;
    this.#runner = new BatchRunner(client, functions && client.cluster !== true);
    this.#keys = keys;
    this.#receiptTtlMs = receiptTtlMs;
    this.#batcher = redisBatcher((operations) => this.#dispatch(operations), this.cluster);
  }

  /** True when the server is treated as a Redis Cluster. */
  get cluster(): boolean {
    return this.#client.cluster === true;
  }

  /** True while batches go by FCALL of the store's Redis Functions library (see runner.ts). */
  get functions(): boolean {
    return this.#runner.functions;
  }

  /** Reversals not yet through (see RedisStore.pendingReversals). */
  get pendingReversals(): number {
    return this.#pendingReversals;
  }

  /** Reversals given up (see RedisStore.lostReversals). */
  get lostReversals(): number {
    return this.#lostReversals;
  }

  /**
   * Removes the prefix's layout marker once clearAll has emptied it, so that the next store to use
   * the prefix claims it anew.
   */
  async unclaimLayout(): Promise<void> {
    this.#layoutClaimed = false;
    await this.send(SCRIPTS.unclaim, [this.#keys.marker], [String(LAYOUT_VERSION)]);
  }

  /**
   * Queues one operation for the next batch and waits for its answer (status first). Fails at once
   * while the connection is down.
   */
  run(
    name: string,
    code: string,
    ledgers: readonly LedgerKeys[],
    keys: string[],
    fields: string,
    limits: readonly string[],
    values: number,
    call: StoreCall,
    reversal?: Reversal,
  ): Promise<Answer> {
    this.checkReady(name);
    const tag = (ledgers[0] as LedgerKeys).tag;
    // When the engine gives up, on this process's monotonic clock (immune to wall-clock steps).
    const giveUpAt = monotonicMs() + (call.deadline - Date.now());
    return new Promise<Answer>((resolve, reject) => {
      this.#batcher.push({
        name,
        code,
        keys,
        fields,
        limits,
        values,
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
      const reply = await this.#runner.run((again) => {
        // A batch that did not run (see runner.ts) goes again without the calls given up on since.
        if (again) {
          live = live.filter((op) => {
            if (monotonicMs() < op.giveUpAt) return true;
            op.reject(new StoreTimeoutError(op.name, op.call.timeoutMs));
            return false;
          });
          if (live.length === 0) return undefined;
        }
        const keys: string[] = [receipt];
        // The receipt's lifetime, the number of distinct limits texts, the texts, the operations.
        const args: string[] = [String(this.#receiptTtlMs), ""];
        const texts = new Map<string, number>();
        const ops: string[] = [];
        for (const op of live) {
          const deadline = Number.isFinite(op.giveUpAt) ? this.#clock.serverTimeUs(op.giveUpAt) : "";
          let refs = "";
          for (const text of op.limits) {
            let at = texts.get(text);
            if (at === undefined) {
              at = args.length + 1; // ARGV counts from 1
              texts.set(text, at);
              args.push(text);
            }
            refs += `${at}\0`;
          }
          ops.push(`${op.code}\0${op.keys.length}\0${deadline}\0${nowArg(op.call)}\0${op.fields}${refs}`);
          for (const key of op.keys) keys.push(key);
        }
        args[1] = String(texts.size);
        for (const op of ops) args.push(op);
        sent = true;
        return [keys, args];
      });
      if (live.length === 0) return;
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
        // A commit's states before it are lost with the answer: the store reads them again.
        op.resolve({ status: Number(status), values: [], now: Number.NaN });
      } else if ((op.code === OP.clear || op.code === OP.undo) && status === "1") {
        op.resolve({ status: 1, values: [], now: Number.NaN });
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
      fields += `${index}\0${r.code}\0${r.lines}\0${r.amount}\0${nowArg(op.call)}\0${r.id}\0`;
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
          limits: [],
          values: 0,
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
  checkReady(operation: string): void {
    const client = this.#client;
    if (client.isReady !== undefined && !client.isReady()) {
      throw new StoreError(`Redis ${operation} failed: not connected to Redis; not queueing the command`);
    }
  }

  /** Sends a script by SHA-1, and by text if the server does not have it (after a restart). */
  async send(script: Script, keys: string[], args: string[]): Promise<unknown> {
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
   * The first contact, before the first batch (and again after clearAll): checks that the prefix's
   * marker names this layout, writing it if the prefix has none yet, and learns the server's clock
   * from the same reply, before the first deadline has to be expressed in it. One round trip.
   * @throws {ConfigurationError} if it names another: keys written by another version of budgetgate.
   */
  #claimLayout(): Promise<void> {
    const marker = this.#keys.marker;
    this.#layout ??= this.send(SCRIPTS.layout, [marker], [String(LAYOUT_VERSION)]).then(
      (reply) => {
        this.#layout = undefined;
        if (!Array.isArray(reply) || reply.length !== 3) {
          throw new StoreError(`Redis layout script answered ${show(reply)}: expected [layout, seconds, microseconds]`);
        }
        this.#clock.observe(reply[1], reply[2], monotonicMs());
        if (String(reply[0]) !== String(LAYOUT_VERSION)) throw layoutMismatch(this.#keys.prefix, marker, reply[0]);
        this.#layoutClaimed = true;
      },
      (error: unknown) => {
        this.#layout = undefined;
        throw error;
      },
    );
    return this.#layout;
  }
}

/** An argument for the engine's clock: empty for the server's. */
function nowArg(call: StoreCall): string {
  return call.now === undefined ? "" : String(call.now);
}

/**
 * Splits a batch's flat reply (server time, then per operation its status and values, see
 * scripts.ts) into each operation's answer.
 */
function splitAnswers(operations: readonly Operation[], reply: readonly unknown[]): Answer[] {
  const answers: Answer[] = [];
  const now = (Number(reply[0]) * 1e6 + Number(reply[1])) / 1e6;
  let at = 2;
  for (const op of operations) {
    const status = Number(reply[at]);
    const end = at + 1 + valueCount(op, status, reply[at + 1]);
    if (end > reply.length) break;
    answers.push({ status, values: reply.slice(at + 1, end), now });
    at = end;
  }
  if (answers.length !== operations.length || at !== reply.length) {
    throw new StoreError(
      `Redis batch script answered ${show(reply)}: expected the server time and the answers of ${operations.length} operations`,
    );
  }
  return answers;
}

/**
 * How many values an operation answers, by its code and status (`first` is its first value): so
 * every answer has the length its operation expects, and readers need not check it.
 */
function valueCount(op: Operation, status: number, first: unknown): number {
  if (status === -1) return 0;
  if (status === -2) return 1;
  if (status === -3) return 3; // line, limit, time
  if (op.code === OP.charge || op.code === OP.reserve) return op.values;
  if (status === 0) return 0;
  if (op.code === OP.list) {
    const count = Number(first);
    return Number.isInteger(count) && count >= 0 ? 2 + 2 * count : Number.POSITIVE_INFINITY;
  }
  return op.values;
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

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.includes("NOSCRIPT");
}

function wrap(error: unknown, script: string): StoreError {
  if (error instanceof StoreError) return error;
  return new StoreError(`Redis ${script} failed: ${describeError(error)}`, { cause: error });
}
