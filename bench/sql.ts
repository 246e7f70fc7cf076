/**
 * SQL stores against their floor: decisions per second and median latency of PostgresStore and
 * SqliteStore with 1 and 32 calls in flight, each beside the plainest SQL that could decide — one
 * `UPDATE … SET total = total + $1 WHERE total + $1 <= $max RETURNING total` per decision, each its
 * own transaction — on the same database, with the same durability settings (PostgreSQL's
 * `synchronous_commit = on`, SQLite's `synchronous = FULL` on a file), in the same run. Run with
 * `npm run bench:sql` (PostgreSQL at DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test).
 * It ends with the goals of issue #14: each store at 32 in flight at least 3× its floor's
 * decisions/s.
 *
 * Every decision is allowed and recorded (the budget never fills), on one hot ledger: the case
 * where every call contends for the same row. Store and floor alternate round by round, and the
 * figures are medians over rounds, so that drift on a shared machine hits both alike.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { Budget, Engine, Ledger } from "budgetgate";
import { PostgresStore } from "budgetgate/postgres";
import { SqliteStore } from "budgetgate/sqlite";
import pg from "pg";
import postgres from "postgres";
import { printTable, progress, quantile } from "./stats.js";

const URL = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const CALLS = Number(process.env.BENCH_CALLS ?? 1500);
const POOL = 16;
// BENCH_ONLY=postgres or sqlite runs one store's contenders (and the history check with postgres).
const ONLY = process.env.BENCH_ONLY;
const COST = "0.000123";
const PG_FLOOR = "PostgreSQL floor (one UPDATE)";
const SQLITE_FLOOR = "SQLite floor (one UPDATE)";
const COST_UNITS = "123000000000000";
const MAX_UNITS = (10n ** 36n).toString();
/** Issue #14: at 32 in flight, each store at least this many times its floor's decisions/s. */
const GOAL_RATIO = 3;
const GOAL_IN_FLIGHT = 32;

type Decide = () => Promise<unknown> | unknown;

interface Round {
  readonly perSecond: number;
  readonly p50Ms: number;
}

/** Runs `calls` decisions with `inFlight` callers, timing each. */
async function round(decide: Decide, calls: number, inFlight: number): Promise<Round> {
  const latencies: number[] = [];
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next++ < calls) {
        const t = process.hrtime.bigint();
        await decide();
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { perSecond: calls / seconds, p50Ms: quantile(latencies, 0.5) };
}

interface Contender {
  readonly name: string;
  /** The floor this contender is compared with; undefined for a floor. */
  readonly floor?: string;
  readonly decide: Decide;
}

interface Result {
  readonly name: string;
  readonly floor: string | undefined;
  readonly inFlight: number;
  readonly perSecond: number;
  readonly p50Ms: number;
}

/** Alternates the contenders round by round; medians over rounds. */
async function compare(contenders: readonly Contender[], inFlight: number): Promise<Result[]> {
  const rounds = new Map(contenders.map((c) => [c.name, [] as Round[]]));
  for (const c of contenders) await round(c.decide, Math.min(500, CALLS), inFlight); // warm up
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of contenders) {
      progress(`${c.name}, ${inFlight} in flight, round ${r + 1}/${ROUNDS}`);
      rounds.get(c.name)?.push(await round(c.decide, CALLS, inFlight));
    }
  }
  return contenders.map((c) => {
    const rs = rounds.get(c.name) ?? [];
    return {
      name: c.name,
      floor: c.floor,
      inFlight,
      perSecond: quantile(
        rs.map((x) => x.perSecond),
        0.5,
      ),
      p50Ms: quantile(
        rs.map((x) => x.p50Ms),
        0.5,
      ),
    };
  });
}

async function postgresContenders(pool: pg.Pool, sql: postgres.Sql, prefix: string): Promise<Contender[]> {
  const store = new PostgresStore(pool, { prefix });
  await store.migrate();
  const storeJs = new PostgresStore(sql, { prefix });
  await pool.query(
    `CREATE TABLE ${prefix}_floor (key text PRIMARY KEY, total numeric NOT NULL) WITH (fillfactor = 70)`,
  );
  await pool.query(`INSERT INTO ${prefix}_floor VALUES ('hot', 0)`);
  const floorText = `UPDATE ${prefix}_floor SET total = total + $1::numeric * 0.000000000000000001
    WHERE key = $2 AND total + $1::numeric * 0.000000000000000001 <= $3::numeric * 0.000000000000000001 RETURNING total`;
  const budget = new Budget({ maxSpend: "1000000000000000000", window: 3600 });
  const engine = new Engine({ store, storeTimeoutMs: 10_000 });
  const engineJs = new Engine({ store: storeJs, storeTimeoutMs: 10_000 });
  const ledger = new Ledger("bench", "model", "hot");
  const ledgerJs = new Ledger("bench", "model", "hot-js");
  return [
    {
      name: PG_FLOOR,
      decide: () => pool.query({ name: `${prefix}:floor`, text: floorText, values: [COST_UNITS, "hot", MAX_UNITS] }),
    },
    { name: "PostgresStore (pg)", floor: PG_FLOOR, decide: () => engine.check(ledger, COST, budget) },
    { name: "PostgresStore (postgres.js)", floor: PG_FLOOR, decide: () => engineJs.check(ledgerJs, COST, budget) },
  ];
}

function sqliteContenders(file: string): { contenders: Contender[]; close: () => void } {
  const store = new SqliteStore(file); // WAL, synchronous=FULL, batched (its defaults)
  const unbatched = new SqliteStore(file, { batch: false, prefix: "unbatched" });
  const db = new Database(file);
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = FULL");
  db.exec("CREATE TABLE floor (key TEXT PRIMARY KEY, total INTEGER NOT NULL)");
  db.prepare("INSERT INTO floor VALUES ('hot', 0)").run();
  const floor = db
    .prepare("UPDATE floor SET total = total + ? WHERE key = ? AND total + ? <= ? RETURNING total")
    .safeIntegers(true);
  const budget = new Budget({ maxSpend: "1000000000000000000", window: 3600 });
  const engine = new Engine({ store, storeTimeoutMs: 10_000 });
  const engineUnbatched = new Engine({ store: unbatched, storeTimeoutMs: 10_000 });
  const ledger = new Ledger("bench", "model", "hot");
  const units = 123_000_000_000_000n;
  const max = 2n ** 62n;
  return {
    contenders: [
      { name: SQLITE_FLOOR, decide: async () => floor.get(units, "hot", units, max) },
      { name: "SqliteStore", floor: SQLITE_FLOOR, decide: () => engine.check(ledger, COST, budget) },
      {
        name: "SqliteStore (batch: false)",
        floor: SQLITE_FLOOR,
        decide: () => engineUnbatched.check(ledger, COST, budget),
      },
    ],
    close: () => {
      db.close();
      void store.close();
      void unbatched.close();
    },
  };
}

/**
 * PostgresStore on ledgers with 1 and with `live` spends in their window, alternating round by
 * round: per-decision cost is flat in history.
 */
async function historyContenders(pool: pg.Pool, prefix: string, live: number): Promise<Contender[]> {
  const store = new PostgresStore(pool, { prefix });
  const engine = new Engine({ store, storeTimeoutMs: 10_000 });
  const budget = new Budget({ maxSpend: "1000000000000000000", window: 86_400 });
  const contenders: Contender[] = [];
  for (const n of [1, live]) {
    const ledger = new Ledger("bench", "model", `history-${n}`);
    await engine.check(ledger, COST, budget);
    if (n > 1) {
      // Written directly, as n - 1 earlier decisions would have left them: one row per spend.
      const { rows } = await pool.query(`SELECT id FROM ${prefix}_ledgers WHERE key = $1`, [ledger.toString()]);
      await pool.query(
        `WITH l AS (SELECT id, recorded, newest FROM ${prefix}_ledgers WHERE id = $1)
         INSERT INTO ${prefix}_spends (ledger, at, before, amount)
         SELECT l.id, l.newest + g * 0.0001, l.recorded + (g - 1) * 0.000123, 0.000123 FROM l, generate_series(1, $2::int) g`,
        [rows[0]?.id, n - 1],
      );
      await pool.query(
        `UPDATE ${prefix}_ledgers SET recorded = recorded + $2::int * 0.000123, newest = newest + $2::int * 0.0001 WHERE id = $1`,
        [rows[0]?.id, n - 1],
      );
      await pool.query(`VACUUM ANALYZE ${prefix}_spends`);
    }
    contenders.push({ name: n.toLocaleString("en-US"), decide: () => engine.check(ledger, COST, budget) });
  }
  return contenders;
}

async function dropPrefix(pool: pg.Pool, prefix: string): Promise<void> {
  const { rows } = await pool.query<{ kind: string; name: string }>(
    `SELECT 'TABLE' AS kind, c.oid::regclass::text AS name FROM pg_class c WHERE c.relkind = 'r' AND c.relname LIKE $1
     UNION ALL SELECT 'FUNCTION', p.oid::regprocedure::text FROM pg_proc p WHERE p.proname LIKE $1`,
    [`${prefix}\\_%`],
  );
  for (const { kind, name } of rows) await pool.query(`DROP ${kind} IF EXISTS ${name} CASCADE`);
}

const fmtRate = (n: number) => Math.round(n).toLocaleString("en-US");
const fmtMs = (n: number) => `${n.toFixed(3)} ms`;

async function main() {
  const prefix = `bgbench_${process.pid}`;
  // BENCH_PG_OPTIONS="-c synchronous_commit=off" shows the CPU cost without the WAL flush.
  const options = process.env.BENCH_PG_OPTIONS;
  const pool = new pg.Pool({ connectionString: URL, max: POOL, ...(options ? { options } : {}) });
  const sql = postgres(URL, {
    max: POOL,
    onnotice: () => {},
    ...(options ? { connection: { options } } : {}),
  });
  const dir = mkdtempSync(join(tmpdir(), "bgbench-"));
  const results: Result[] = [];
  let history: Result[] = [];
  try {
    const pgContenders = await postgresContenders(pool, sql, prefix);
    const sqlite = sqliteContenders(join(dir, "bench.db"));
    try {
      for (const inFlight of [1, 32]) {
        if (ONLY !== "sqlite") results.push(...(await compare(pgContenders, inFlight)));
        if (ONLY !== "postgres") results.push(...(await compare(sqlite.contenders, inFlight)));
      }
    } finally {
      sqlite.close();
    }
    if (ONLY !== "sqlite") history = await compare(await historyContenders(pool, prefix, 100_000), 1);
  } finally {
    await dropPrefix(pool, prefix).catch(() => {});
    await pool.end();
    await sql.end();
    rmSync(dir, { recursive: true, force: true });
  }

  const floorOf = (r: Result) => results.find((f) => f.inFlight === r.inFlight && f.name === r.floor);
  console.log(
    `\nSQL stores vs plain SQL, ${ROUNDS} rounds × ${CALLS} decisions, medians (${new Date().toISOString()})\n`,
  );
  printTable(
    ["store", "in flight", "decisions/s", "p50", "decisions/s vs floor", "p50 vs floor"],
    results.map((r) => {
      const floor = floorOf(r);
      return [
        r.name,
        String(r.inFlight),
        fmtRate(r.perSecond),
        fmtMs(r.p50Ms),
        floor === undefined ? "—" : `${(r.perSecond / floor.perSecond).toFixed(2)}×`,
        floor === undefined ? "—" : `${(r.p50Ms / floor.p50Ms).toFixed(2)}×`,
      ];
    }),
  );
  console.log(`\nGoals (issue #14): at ${GOAL_IN_FLIGHT} in flight, at least ${GOAL_RATIO}× the floor's decisions/s\n`);
  for (const r of results) {
    const floor = floorOf(r);
    if (floor === undefined || r.inFlight !== GOAL_IN_FLIGHT || r.name.includes("batch: false")) continue;
    const ratio = r.perSecond / floor.perSecond;
    console.log(`- ${r.name}: ${ratio.toFixed(2)}× ${ratio >= GOAL_RATIO ? "met" : "NOT met"}`);
  }
  if (history.length === 0) return;
  console.log("\nPostgresStore (pg), 1 in flight, by spends live in the ledger's window\n");
  printTable(
    ["spends in window", "decisions/s", "p50"],
    history.map((r) => [r.name, fmtRate(r.perSecond), fmtMs(r.p50Ms)]),
  );
}

await main();
