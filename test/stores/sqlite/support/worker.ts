/**
 * A child process for the SQLite multi-process tests, run as `node --import tsx test/stores/sqlite/support/worker.ts <json>`.
 *
 * - `contend`: prints "ready", waits for "go" on stdin, then charges a shared ledger (together with
 *   its own) until the budget blocks it, then does the same with reserve/commit on a second shared
 *   ledger; prints one JSON line with what it recorded.
 * - `stream`: charges two ledgers together (and now and then reserves and commits) as fast as it
 *   can, forever, appending one line to `report` after each recorded spend returned. The parent
 *   kills it with SIGKILL.
 */
import { appendFileSync } from "node:fs";
import { Amount, BlockReason, Budget, Engine, Ledger } from "budgetgate";
import { type SqliteDriver, SqliteStore } from "budgetgate/sqlite";

interface ContendArgs {
  readonly mode: "contend";
  readonly path: string;
  readonly worker: number;
  readonly ns: string;
  readonly driver: SqliteDriver;
}

interface StreamArgs {
  readonly mode: "stream";
  readonly path: string;
  readonly report: string;
  readonly ns: string;
  readonly synchronous: "full" | "normal";
  readonly driver: SqliteDriver;
}

const args = JSON.parse(process.argv[2] as string) as ContendArgs | StreamArgs;

if (args.mode === "contend") await contend(args);
else await stream(args);

async function contend({ path, worker, ns, driver }: ContendArgs): Promise<void> {
  const store = new SqliteStore(path, { driver });
  const engine = new Engine({ store, storeTimeoutMs: 5000 });
  const user = { ledger: new Ledger(ns, "model", `user:${worker}`), budget: new Budget({ maxSpend: "1000" }) };
  const org = { ledger: new Ledger(ns, "model", "org"), budget: new Budget({ maxSpend: "50.00", window: 3600 }) };
  const team = { ledger: new Ledger(ns, "model", "team"), budget: new Budget({ maxSpend: "20.00", window: 3600 }) };
  process.stdout.write("ready\n");
  await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));

  let allowed = 0;
  let storeErrors = 0;
  for (;;) {
    const decision = await engine.check([user, org], "0.07");
    if (decision.allowed) allowed++;
    else if (decision.reason === BlockReason.STORE_ERROR) storeErrors++;
    else break;
  }

  // Reserve 0.10, commit 0.04: holds in flight in other processes may free room later, so keep
  // going until several budget blocks in a row.
  let committed = Amount.ZERO;
  let held = 0;
  let blockedInARow = 0;
  while (blockedInARow < 20) {
    const { reservation, decision } = await engine.reserve([user, team], "0.10");
    if (reservation === null) {
      if (decision.reason === BlockReason.STORE_ERROR) storeErrors++;
      else blockedInARow++;
      continue;
    }
    blockedInARow = 0;
    held++;
    const settled = await engine.commit(reservation, "0.04");
    committed = committed.plus(settled.recorded);
  }
  await store.close();
  process.stdout.write(`${JSON.stringify({ worker, allowed, storeErrors, held, committed: committed.toString() })}\n`);
  process.exit(0);
}

async function stream({ path, report, ns, synchronous, driver }: StreamArgs): Promise<void> {
  const store = new SqliteStore(path, { synchronous, driver });
  const engine = new Engine({ store, storeTimeoutMs: 5000 });
  const lifetime = { ledger: new Ledger(ns, "model", "lifetime"), budget: new Budget({ maxSpend: "1000000" }) };
  const windowed = {
    ledger: new Ledger(ns, "model", "windowed"),
    budget: new Budget({ maxSpend: "1000000", window: 1 }),
  };
  for (let i = 0; ; i++) {
    if (i % 5 === 4) {
      const { reservation } = await engine.reserve([lifetime, windowed], "0.002");
      if (reservation === null) throw new Error("stream: a reservation was refused");
      await engine.commit(reservation, "0.001");
    } else {
      const decision = await engine.check([lifetime, windowed], "0.001");
      if (!decision.allowed) throw new Error(`stream: a charge was refused: ${decision.message}`);
    }
    appendFileSync(report, "1\n");
  }
}
