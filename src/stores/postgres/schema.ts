import { type PostgresNames, postgresNames, qualified } from "./names.js";

/**
 * Version of the schema below; bump with every change to it. Recorded as the ledgers table's
 * comment (`budgetgate schema 1`); a store refuses tables of another version. Named LAYOUT_VERSION
 * in every store, so one name finds them all (and schema.ts, as in the SQLite store: SQL stores
 * keep tables; the key-value stores' counterpart is layout.ts).
 * @example VERSION_COMMENT // "budgetgate schema 1"
 */
export const LAYOUT_VERSION = 1;

/** The comment on the ledgers table that records {@link LAYOUT_VERSION}. */
export const VERSION_COMMENT = `budgetgate schema ${LAYOUT_VERSION}`;

/** SQLSTATE the functions raise for an unknown, finished or forgotten reservation. */
export const NOT_FOUND_SQLSTATE = "BG404";

/** The tables and functions of one store, fully qualified. */
export interface SchemaObjects {
  readonly ledgers: string;
  readonly spends: string;
  readonly holds: string;
  readonly holdLines: string;
  readonly graveyard: string;
  readonly decide: string;
  readonly commit: string;
  readonly release: string;
  readonly spent: string;
  readonly clear: string;
  readonly clearAll: string;
  readonly bound: string;
  readonly deadline: string;
}

/** The qualified names of a store's tables and functions. */
export function schemaObjects(names: PostgresNames): SchemaObjects {
  return {
    ledgers: qualified(names, "ledgers"),
    spends: qualified(names, "spends"),
    holds: qualified(names, "holds"),
    holdLines: qualified(names, "hold_lines"),
    graveyard: qualified(names, "graveyard"),
    decide: qualified(names, "decide"),
    commit: qualified(names, "commit"),
    release: qualified(names, "release"),
    spent: qualified(names, "spent"),
    clear: qualified(names, "clear"),
    clearAll: qualified(names, "clear_all"),
    bound: qualified(names, "bound"),
    deadline: qualified(names, "deadline"),
  };
}

/**
 * The schema of a PostgresStore as plain, idempotent SQL (`CREATE … IF NOT EXISTS`,
 * `CREATE OR REPLACE FUNCTION`): what `store.migrate()` runs, inside one transaction under an
 * advisory lock. Print it to review it or to apply it with your own migration tool.
 *
 * @throws {ConfigurationError} if the prefix or schema is not a lower-case identifier.
 * @example
 * import { postgresSchema } from "budgetgate/postgres";
 * console.log(postgresSchema({ prefix: "budgetgate" }));
 */
export function postgresSchema(options: { prefix?: string; schema?: string } = {}): string {
  const names = postgresNames(options);
  const o = schemaObjects(names);
  const x = (suffix: string) => `${names.prefix}_${suffix}`; // index names are never schema-qualified
  const createSchema = names.schema === null ? "" : `CREATE SCHEMA IF NOT EXISTS ${names.schema};\n\n`;
  return `${createSchema}-- ${VERSION_COMMENT}. Amounts are NUMERIC currency units, exact to 18 places;
-- times are seconds since the epoch (the server's clock_timestamp(), or the engine's clock).

-- One row per ledger. The window's spend is recorded - (the first in-window spend's "before"),
-- so no call ever sums the window; while the oldest spend is still in the window, no call even
-- looks for the first one.
CREATE TABLE IF NOT EXISTS ${o.ledgers} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key text NOT NULL UNIQUE,                              -- ledger.toString(); \\, NUL and lone surrogates escaped
  recorded numeric NOT NULL DEFAULT 0,                   -- every spend ever recorded, summed
  reserved numeric NOT NULL DEFAULT 0,                   -- holds on the ledger not yet known to have expired
  last_at double precision NOT NULL DEFAULT '-infinity', -- time of the latest spend
  oldest_at double precision NOT NULL DEFAULT 'infinity', -- time of the oldest spend row ('infinity': none)
  oldest_before numeric DEFAULT 0                         -- its "before" (recorded, with none); NULL when
                                                          -- oldest_at is only a lower bound
) WITH (fillfactor = 70);
COMMENT ON TABLE ${o.ledgers} IS '${VERSION_COMMENT}';

-- One row per recorded spend, kept while its window may still count it.
CREATE TABLE IF NOT EXISTS ${o.spends} (
  ledger bigint NOT NULL,
  at double precision NOT NULL,   -- never before the ledger's previous spend, so rows are in time order
  before numeric NOT NULL,        -- the ledger's "recorded" before this spend
  amount numeric NOT NULL,
  PRIMARY KEY (ledger, at, before)
);

-- One row per reservation, remembered until forget_at so that a late commit is still recorded.
CREATE TABLE IF NOT EXISTS ${o.holds} (
  id text PRIMARY KEY,
  amount numeric NOT NULL,
  expires_at double precision NOT NULL,
  forget_at double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS ${x("holds_forget")} ON ${o.holds} (forget_at);

-- One row per ledger a live hold counts on.
CREATE TABLE IF NOT EXISTS ${o.holdLines} (
  hold text NOT NULL,
  ledger bigint NOT NULL,
  amount numeric NOT NULL,
  expires_at double precision NOT NULL,
  PRIMARY KEY (hold, ledger)
);
CREATE INDEX IF NOT EXISTS ${x("hold_lines_expiry")} ON ${o.holdLines} (ledger, expires_at);

-- Cleared ledgers whose spends are still being deleted, in bounded batches.
CREATE TABLE IF NOT EXISTS ${o.graveyard} (
  ledger bigint PRIMARY KEY
);

-- Called before each lock a call may wait for: fails at once if the caller's time is up, else
-- bounds the wait by what is left of it. Per lock, because lock_timeout bounds each wait, not
-- their sum; set_config(..., true) lasts until the end of the call's transaction.
CREATE OR REPLACE FUNCTION ${o.bound}(p_budget_ms double precision)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  v_left double precision;
BEGIN
  IF p_budget_ms IS NOT NULL THEN
    v_left := p_budget_ms - 1000 * date_part('epoch', clock_timestamp() - statement_timestamp());
    IF v_left < 1 THEN
      RAISE EXCEPTION 'budgetgate: out of time (% ms) before taking a lock; rolled back', round(p_budget_ms::numeric, 1)
        USING ERRCODE = '57014';
    END IF;
    PERFORM set_config('lock_timeout', ceil(v_left)::bigint || 'ms', true);
  END IF;
END
$fn$;

-- The last step of every call, just before its COMMIT: a call that outlived the caller's time
-- rolls back instead of taking effect after the caller gave up.
CREATE OR REPLACE FUNCTION ${o.deadline}(p_budget_ms double precision)
RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
  IF p_budget_ms IS NOT NULL AND 1000 * date_part('epoch', clock_timestamp() - statement_timestamp()) > p_budget_ms THEN
    RAISE EXCEPTION 'budgetgate: the call outlived its % ms and was rolled back', round(p_budget_ms::numeric, 1)
      USING ERRCODE = '57014';
  END IF;
END
$fn$;

-- charge (p_hold NULL) and reserve: checks every line, then records on all or none.
CREATE OR REPLACE FUNCTION ${o.decide}(
  p_keys text[], p_max numeric[], p_windows double precision[], p_amount numeric,
  p_now double precision, p_budget_ms double precision,
  p_hold text, p_ttl double precision, p_retain double precision,
  OUT allowed boolean, OUT spent text[])
LANGUAGE plpgsql ${PLANNER} AS $fn$
DECLARE
${declarations}
BEGIN
${lock(o)}
  v_now := coalesce(p_now, date_part('epoch', clock_timestamp()));
  v_amount := p_amount * 0.000000000000000001;
  allowed := true;
  spent := '{}';
  FOR v_i IN 1..v_n LOOP
    IF v_reserved[v_i] > 0 THEN
      -- Holds past their TTL stop counting; each hold line is deleted exactly once.
      WITH gone AS (DELETE FROM ${o.holdLines} h WHERE h.ledger = v_ids[v_i] AND h.expires_at <= v_now RETURNING h.amount)
      SELECT coalesce(sum(gone.amount), 0) INTO v_freed FROM gone;
      IF v_freed > 0 THEN
        v_reserved[v_i] := v_reserved[v_i] - v_freed;
        v_dirty[v_i] := true;
      END IF;
    END IF;
    v_horizon := coalesce(v_now - p_windows[v_i], '-infinity');
    IF v_oldest_before[v_i] IS NOT NULL AND v_oldest_at[v_i] >= v_horizon THEN
      v_base := v_oldest_before[v_i]; -- every spend row is in the window (or there is none)
    ELSE
      -- One index probe: the oldest spend the window still counts (t >= now - window).
      SELECT s.before, s.at INTO v_base, v_first FROM ${o.spends} s
        WHERE s.ledger = v_ids[v_i] AND s.at >= v_horizon ORDER BY s.at, s.before LIMIT 1;
      IF FOUND THEN
        v_first_at[v_i] := v_first;
        v_first_before[v_i] := v_base;
      ELSE
        v_first_at[v_i] := 'infinity'; -- none in the window
        v_base := v_recorded[v_i];
      END IF;
    END IF;
    v_total := v_recorded[v_i] - v_base + v_reserved[v_i];
    spent[v_i] := trunc(v_total * 1000000000000000000)::text;
    IF v_total + v_amount > p_max[v_i] * 0.000000000000000001 THEN
      allowed := false;
    END IF;
  END LOOP;
  IF allowed THEN
    IF p_hold IS NULL THEN
      v_record := v_amount > 0;
    ELSE
      INSERT INTO ${o.holds} (id, amount, expires_at, forget_at)
        VALUES (p_hold, v_amount, v_now + p_ttl, v_now + p_ttl + p_retain);
      IF v_amount > 0 THEN
        FOR v_i IN 1..v_n LOOP
          INSERT INTO ${o.holdLines} (hold, ledger, amount, expires_at) VALUES (p_hold, v_ids[v_i], v_amount, v_now + p_ttl);
          v_reserved[v_i] := v_reserved[v_i] + v_amount;
          v_dirty[v_i] := true;
        END LOOP;
      END IF;
      -- Forget a few holds past their late-commit window per reservation made: each goes once.
      DELETE FROM ${o.holds} WHERE ctid = ANY (ARRAY(
        SELECT h.ctid FROM ${o.holds} h WHERE h.forget_at <= v_now ORDER BY h.forget_at LIMIT 8 FOR UPDATE SKIP LOCKED));
    END IF;
  END IF;
${save(o)}
  PERFORM ${o.deadline}(p_budget_ms);
END
$fn$;

-- commit: replaces a hold by a spend of the actual amount, recorded now.
CREATE OR REPLACE FUNCTION ${o.commit}(
  p_id text, p_keys text[], p_windows double precision[], p_actual numeric,
  p_now double precision, p_budget_ms double precision, OUT late boolean)
LANGUAGE plpgsql ${PLANNER} AS $fn$
DECLARE
${declarations}
BEGIN
${lock(o)}
  v_now := coalesce(p_now, date_part('epoch', clock_timestamp()));
  v_amount := p_actual * 0.000000000000000001;
${bound(o, "  ")}
  DELETE FROM ${o.holds} h WHERE h.id = p_id RETURNING h.expires_at, h.forget_at INTO v_expires, v_forget;
  IF NOT FOUND OR v_forget <= v_now THEN
    RAISE EXCEPTION 'budgetgate: reservation % not found', p_id USING ERRCODE = '${NOT_FOUND_SQLSTATE}';
  END IF;
  late := v_expires <= v_now;
  FOR v_id, v_freed IN DELETE FROM ${o.holdLines} h WHERE h.hold = p_id RETURNING h.ledger, h.amount LOOP
    v_i := array_position(v_ids, v_id);
    IF v_i IS NULL THEN
      UPDATE ${o.ledgers} l SET reserved = l.reserved - v_freed WHERE l.id = v_id;
    ELSE
      v_reserved[v_i] := v_reserved[v_i] - v_freed;
      v_dirty[v_i] := true;
    END IF;
  END LOOP;
  v_record := v_amount > 0;
${save(o)}
  PERFORM ${o.deadline}(p_budget_ms);
END
$fn$;

-- release: drops a hold, recording nothing.
CREATE OR REPLACE FUNCTION ${o.release}(
  p_id text, p_now double precision, p_budget_ms double precision, OUT late boolean)
LANGUAGE plpgsql ${PLANNER} AS $fn$
DECLARE
  v_id bigint;
  v_now double precision;
  v_freed numeric;
  v_expires double precision;
  v_forget double precision;
BEGIN
  -- The same lock order as every other call: ledgers by key, then the hold.
  FOR v_id IN SELECT l.id FROM ${o.holdLines} h JOIN ${o.ledgers} l ON l.id = h.ledger
      WHERE h.hold = p_id ORDER BY l.key COLLATE "C" LOOP
${bound(o, "    ")}
    PERFORM 1 FROM ${o.ledgers} l WHERE l.id = v_id FOR UPDATE;
  END LOOP;
  v_now := coalesce(p_now, date_part('epoch', clock_timestamp()));
${bound(o, "  ")}
  DELETE FROM ${o.holds} h WHERE h.id = p_id RETURNING h.expires_at, h.forget_at INTO v_expires, v_forget;
  IF NOT FOUND OR v_forget <= v_now THEN
    RAISE EXCEPTION 'budgetgate: reservation % not found', p_id USING ERRCODE = '${NOT_FOUND_SQLSTATE}';
  END IF;
  late := v_expires <= v_now;
  FOR v_id, v_freed IN DELETE FROM ${o.holdLines} h WHERE h.hold = p_id RETURNING h.ledger, h.amount LOOP
    UPDATE ${o.ledgers} l SET reserved = l.reserved - v_freed WHERE l.id = v_id;
  END LOOP;
  PERFORM ${o.deadline}(p_budget_ms);
END
$fn$;

-- spent: the window's spend plus live holds, read in one snapshot without locking.
CREATE OR REPLACE FUNCTION ${o.spent}(p_key text, p_window double precision, p_now double precision)
RETURNS text LANGUAGE sql ${PLANNER} AS $fn$
  WITH t AS (SELECT coalesce(p_now, date_part('epoch', clock_timestamp())) AS now)
  SELECT coalesce((
    SELECT trunc((l.recorded
      - coalesce((SELECT s.before FROM ${o.spends} s
                  WHERE s.ledger = l.id AND s.at >= coalesce(t.now - p_window, '-infinity')
                  ORDER BY s.at, s.before LIMIT 1), l.recorded)
      + l.reserved
      - CASE WHEN l.reserved > 0 THEN (SELECT coalesce(sum(h.amount), 0) FROM ${o.holdLines} h
                                       WHERE h.ledger = l.id AND h.expires_at <= t.now) ELSE 0 END
    ) * 1000000000000000000)::text
    FROM ${o.ledgers} l, t WHERE l.key = p_key), '0')
$fn$;

-- clear: forgets one ledger. Its spends are deleted in bounded batches, here and by later clears.
CREATE OR REPLACE FUNCTION ${o.clear}(p_key text, p_budget_ms double precision)
RETURNS void LANGUAGE plpgsql ${PLANNER} AS $fn$
DECLARE
  v_id bigint;
  v_count bigint;
BEGIN
${bound(o, "  ")}
  DELETE FROM ${o.ledgers} l WHERE l.key = p_key RETURNING l.id INTO v_id;
  IF FOUND THEN
    DELETE FROM ${o.holdLines} h WHERE h.ledger = v_id;
    INSERT INTO ${o.graveyard} (ledger) VALUES (v_id);
  END IF;
  FOR v_id IN SELECT g.ledger FROM ${o.graveyard} g ORDER BY g.ledger LIMIT 4 FOR UPDATE SKIP LOCKED LOOP
    DELETE FROM ${o.spends} WHERE ctid = ANY (ARRAY(SELECT s.ctid FROM ${o.spends} s WHERE s.ledger = v_id LIMIT 5000));
    GET DIAGNOSTICS v_count = ROW_COUNT;
    IF v_count < 5000 THEN
      DELETE FROM ${o.graveyard} g WHERE g.ledger = v_id;
    END IF;
  END LOOP;
  PERFORM ${o.deadline}(p_budget_ms);
END
$fn$;

-- clear_all: forgets every ledger and hold of this store.
CREATE OR REPLACE FUNCTION ${o.clearAll}(p_budget_ms double precision)
RETURNS void LANGUAGE plpgsql ${PLANNER} AS $fn$
BEGIN
${bound(o, "  ")}
  TRUNCATE ${o.ledgers}, ${o.spends}, ${o.holds}, ${o.holdLines}, ${o.graveyard};
  PERFORM ${o.deadline}(p_budget_ms);
END
$fn$;
`;
}

// Every query here is a point or a short ordered range read on an index. Statistics of a table
// with a few hot ledgers can make the planner prefer a bitmap scan plus a sort for "the oldest 16
// rows of this ledger", which reads all of the ledger's rows: work that grows with history. Ruling
// out the plans that are never right here keeps each call bounded whatever the statistics say.
const PLANNER = "SET enable_seqscan = off SET enable_bitmapscan = off";

// Arrays start empty: assigning element i extends them, reading an unset one gives NULL.
const declarations = `  v_n int := cardinality(p_keys);
  v_ids bigint[] := '{}';
  v_recorded numeric[] := '{}';
  v_reserved numeric[] := '{}';
  v_last_at double precision[] := '{}';
  v_oldest_at double precision[] := '{}';
  v_oldest_before numeric[] := '{}';
  v_first_at double precision[] := '{}';  -- the probe's first spend in the window ('infinity': none)
  v_first_before numeric[] := '{}';
  v_dirty boolean[] := '{}';
  v_key text;
  v_i int;
  v_id bigint;
  v_rec numeric;
  v_res numeric;
  v_last double precision;
  v_old double precision;
  v_old_before numeric;
  v_first double precision;
  v_now double precision;
  v_horizon double precision;
  v_at double precision;
  v_amount numeric;
  v_base numeric;
  v_freed numeric;
  v_total numeric;
  v_expires double precision;
  v_forget double precision;
  v_record boolean := false;
  v_order int[];`;

/** Bounds the next lock wait by the caller's remaining time. */
function bound(o: SchemaObjects, indent: string): string {
  return `${indent}PERFORM ${o.bound}(p_budget_ms);`;
}

/**
 * Locks (creating if need be) every ledger of the call, in one global order — by key, bytewise —
 * so that several-ledger calls never deadlock, whatever order their lines come in. One key, the
 * usual case, skips the sort.
 */
function lock(o: SchemaObjects): string {
  return `  IF v_n = 1 THEN
    v_order := '{1}';
  ELSE
    SELECT array_agg(u.i::int ORDER BY u.k COLLATE "C") INTO v_order FROM unnest(p_keys) WITH ORDINALITY AS u(k, i);
  END IF;
  FOREACH v_i IN ARRAY v_order LOOP
    v_key := p_keys[v_i];
${bound(o, "    ")}
    LOOP
      SELECT l.id, l.recorded, l.reserved, l.last_at, l.oldest_at, l.oldest_before
        INTO v_id, v_rec, v_res, v_last, v_old, v_old_before
        FROM ${o.ledgers} l WHERE l.key = v_key FOR UPDATE;
      EXIT WHEN FOUND;
      INSERT INTO ${o.ledgers} AS l (key) VALUES (v_key) ON CONFLICT (key) DO NOTHING
        RETURNING l.id, l.recorded, l.reserved, l.last_at, l.oldest_at, l.oldest_before
        INTO v_id, v_rec, v_res, v_last, v_old, v_old_before;
      EXIT WHEN FOUND;
      -- Another call created it since our SELECT: lock theirs on the next pass.
    END LOOP;
    v_ids[v_i] := v_id;
    v_recorded[v_i] := v_rec;
    v_reserved[v_i] := v_res;
    v_last_at[v_i] := v_last;
    v_oldest_at[v_i] := v_old;
    v_oldest_before[v_i] := v_old_before;
  END LOOP;`;
}

/**
 * Writes back every ledger that changed, in one statement each. When v_record: the spend of
 * v_amount at v_now (never before the ledger's previous spend, so rows stay in time order) and the
 * new totals; and, once spends older than the window have piled up for an eighth of it (a minute
 * at most), a bounded batch of them deleted — 16 leave for each one that enters, so any backlog
 * drains, and a ledger with nothing to expire pays nothing for expiry.
 *
 * (oldest_at, oldest_before) stay those of the oldest row: a first row becomes the oldest; a batch
 * that deleted every expired row leaves the first in-window row (found by this call's probe) the
 * oldest; otherwise only a lower bound is known (oldest_before NULL) until a later batch.
 */
function save(o: SchemaObjects): string {
  return `  FOR v_i IN 1..v_n LOOP
    IF v_record THEN
      v_at := greatest(v_now, v_last_at[v_i]);
      IF v_oldest_at[v_i] < v_now - p_windows[v_i] - least(p_windows[v_i] / 8, 60) THEN
        WITH spend AS (
          INSERT INTO ${o.spends} (ledger, at, before, amount) VALUES (v_ids[v_i], v_at, v_recorded[v_i], v_amount)
        ), expired AS (
          DELETE FROM ${o.spends} WHERE ctid = ANY (ARRAY(
            SELECT s.ctid FROM ${o.spends} s WHERE s.ledger = v_ids[v_i] AND s.at < v_now - p_windows[v_i]
            ORDER BY s.at, s.before LIMIT 16))
          RETURNING at
        ), batch AS (
          SELECT count(*) < 16 AND v_first_at[v_i] IS NOT NULL AS drained, max(e.at) AS newest FROM expired e
        )
        UPDATE ${o.ledgers} l SET recorded = v_recorded[v_i] + v_amount, reserved = v_reserved[v_i], last_at = v_at,
          oldest_at = CASE WHEN NOT b.drained THEN coalesce(b.newest, v_oldest_at[v_i])
                           WHEN v_first_at[v_i] = 'infinity' THEN v_at ELSE v_first_at[v_i] END,
          oldest_before = CASE WHEN NOT b.drained THEN NULL
                               WHEN v_first_at[v_i] = 'infinity' THEN v_recorded[v_i] ELSE v_first_before[v_i] END
          FROM batch b WHERE l.id = v_ids[v_i];
      ELSE
        WITH spend AS (
          INSERT INTO ${o.spends} (ledger, at, before, amount) VALUES (v_ids[v_i], v_at, v_recorded[v_i], v_amount)
        )
        UPDATE ${o.ledgers} l SET recorded = v_recorded[v_i] + v_amount, reserved = v_reserved[v_i], last_at = v_at,
          oldest_at = CASE WHEN v_oldest_at[v_i] = 'infinity' THEN v_at ELSE v_oldest_at[v_i] END,
          oldest_before = CASE WHEN v_oldest_at[v_i] = 'infinity' THEN v_recorded[v_i] ELSE v_oldest_before[v_i] END
          WHERE l.id = v_ids[v_i];
      END IF;
    ELSIF v_dirty[v_i] THEN
      UPDATE ${o.ledgers} l SET reserved = v_reserved[v_i] WHERE l.id = v_ids[v_i];
    END IF;
  END LOOP;`;
}
