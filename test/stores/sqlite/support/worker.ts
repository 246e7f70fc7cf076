/**
 * A child process for the SQLite multi-process tests, run as `node --import tsx test/stores/sqlite/support/worker.ts <json>`.
 *
 * - `contend`: prints "ready", waits for "go" on stdin, then charges a shared ledger (together with
 *   its own) until the budget blocks it, then does the same with reserve/commit on a second shared
 *   ledger; prints one JSON line with what it recorded.
 * - `skew`: moves its own `Date.now` by `skewHours`, prints "ready", waits for "go", then charges
 *   0.05 to one ledger under a budget of a calendar day (alerts at 50 %, 80 % and 100 %) and a
 *   rolling hour until the budget blocks it; prints one JSON line with what it was allowed and
 *   every threshold event its engine reported.
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

interface SkewArgs {
  readonly mode: "skew";
  readonly path: string;
  readonly ns: string;
  readonly skewHours: number;
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

const args = JSON.parse(process.argv[2] as string) as ContendArgs | SkewArgs | StreamArgs;

/**
 * Store errors after which a worker stops and reports: the tests expect none, and a worker that
 * kept retrying a store that keeps failing (a lock starved on a loaded machine) would only show
 * as the test's timeout, with nothing said of why.
 */
const MAX_STORE_ERRORS = 10;

if (args.mode === "contend") await contend(args);
else if (args.mode === "skew") await skew(args);
else await stream(args);

async function skew({ path, ns, skewHours, driver }: SkewArgs): Promise<void> {
  // This process's clock, hours off. Everything in it that reads the time reads this one.
  const real = Date.now.bind(Date);
  Date.now = () => real() + skewHours * 3_600_000;
  const store = new SqliteStore(path, { driver });
  const engine = new Engine({ store, storeTimeoutMs: 5000 });
  const events: { level: number; spent: string; at: number; window: string }[] = [];
  engine.onThreshold((e) => {
    events.push({ level: e.level, spent: e.spent.toString(), at: e.at, window: e.limit.windowId });
  });
  const ledger = new Ledger(ns, "model", "shared");
  const budget = new Budget({
    limits: [
      { maxSpend: "5.00", window: { calendar: "day", timeZone: "UTC" }, alerts: [0.5, 0.8, 1] },
      { maxSpend: "10.00", window: 3600 },
    ],
  });
  process.stdout.write("ready\n");
  await new Promise<void>((resolve) => process.stdin.once("data", () => resolve()));
  let allowed = 0;
  let storeErrors = 0;
  let resetsAt: number | null = null;
  for (;;) {
    const decision = await engine.check(ledger, "0.05", budget);
    if (decision.allowed) allowed++;
    else if (decision.reason === BlockReason.STORE_ERROR) {
      if (++storeErrors >= MAX_STORE_ERRORS) break;
    } else {
      resetsAt = decision.resetsAt;
      break;
    }
  }
  await store.close();
  process.stdout.write(`${JSON.stringify({ skewHours, allowed, storeErrors, events, resetsAt })}\n`);
  process.exit(0);
}

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
    else if (decision.reason !== BlockReason.STORE_ERROR || ++storeErrors >= MAX_STORE_ERRORS) break;
  }

  // Reserve 0.10, commit 0.04: holds in flight in other processes may free room later, so keep
  // going until several budget blocks in a row.
  let committed = Amount.ZERO;
  let held = 0;
  let blockedInARow = 0;
  while (blockedInARow < 20 && storeErrors < MAX_STORE_ERRORS) {
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
