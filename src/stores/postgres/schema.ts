import { type PostgresNames, postgresNames, qualified } from "./names.js";

/**
 * Version of the schema below; bump with every change to it. Recorded as the ledgers table's
 * comment (`budgetgate schema 2`); a store refuses tables of another version. Named LAYOUT_VERSION
 * in every store, so one name finds them all (and schema.ts, as in the SQLite store: SQL stores
 * keep tables; the key-value stores' counterpart is layout.ts).
 *
 * Version 2 (#13): several limits per line; one running total per (ledger, window id) kept in the
 * ledger's row; `read` and `scan` in place of `spent`.
 * @example VERSION_COMMENT // "budgetgate schema 2"
 */
export const LAYOUT_VERSION = 2;

/** The comment on the ledgers table that records {@link LAYOUT_VERSION}. */
export const VERSION_COMMENT = `budgetgate schema ${LAYOUT_VERSION}`;

/** SQLSTATE the functions raise for an unknown, finished or forgotten reservation. */
export const NOT_FOUND_SQLSTATE = "BG404";

/**
 * SQLSTATE the functions raise when the ledger's time is outside the boundaries of a calendar
 * window (DETAIL: the window id; HINT: the time, as float8 text, which round-trips exactly).
 */
export const PERIOD_RANGE_SQLSTATE = "BG416";

/**
 * SQLSTATE decide_many answers for a call it did not decide because the calls before it in the
 * batch, already decided, had less time left than it needed to wait for a lock: nothing of it was
 * written, and it goes again, first, in the next batch.
 */
export const AGAIN_SQLSTATE = "BG503";

/** The tables and functions of one store, fully qualified. */
export interface SchemaObjects {
  readonly ledgers: string;
  readonly spends: string;
  readonly holds: string;
  readonly holdLines: string;
  readonly graveyard: string;
  readonly decide: string;
  readonly decideMany: string;
  readonly commit: string;
  readonly release: string;
  readonly scan: string;
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
    decideMany: qualified(names, "decide_many"),
    commit: qualified(names, "commit"),
    release: qualified(names, "release"),
    scan: qualified(names, "scan"),
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

-- One row per ledger, with a running total per window id it has been charged under. Every total is
-- "recorded - base": recording a spend raises "recorded", and so every total at once; a rolling
-- total moves its base forward as its window slides, a calendar total takes a new base when a new
-- period starts, a lifetime total keeps its base. No call sums a window.
CREATE TABLE IF NOT EXISTS ${o.ledgers} (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  key text COLLATE "C" NOT NULL UNIQUE,                 -- ledger.toString(); \\, NUL and lone surrogates escaped;
                                                        -- bytewise, so that scan() pages on this index by prefix
  recorded numeric NOT NULL DEFAULT 0,                  -- every spend ever recorded, summed
  reserved numeric NOT NULL DEFAULT 0,                  -- holds on the ledger not yet known to have expired
  newest double precision NOT NULL DEFAULT '-infinity', -- time of the latest spend: the ledger's time never runs back
  oldest double precision NOT NULL DEFAULT 'infinity',  -- at most the time of the oldest spend row ('infinity': none)
  floor double precision NOT NULL DEFAULT '-infinity',  -- the log holds no spend before this (older rows are
                                                        -- gone, or going a batch at a time); never moves back
  w_ids text[] NOT NULL DEFAULT '{}',                   -- per total: its window id
  w_seconds double precision[] NOT NULL DEFAULT '{}',   --   rolling: the window's length; NULL: calendar or lifetime
  w_base numeric[] NOT NULL DEFAULT '{}',               --   the total is recorded - base
  w_from double precision[] NOT NULL DEFAULT '{}',      --   rolling: the window's start when base was found;
                                                        --   calendar: the period's start; lifetime: NULL
  w_to double precision[] NOT NULL DEFAULT '{}'         --   rolling: time of the first spend counted ('infinity': none);
                                                        --   calendar: the period's end; lifetime: NULL
) WITH (fillfactor = 70);
COMMENT ON TABLE ${o.ledgers} IS '${VERSION_COMMENT}';

-- The log: one row per recorded spend, kept while the ledger's longest rolling window may count it
-- (none for a ledger without a rolling total).
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

-- charge (p_hold NULL), reserve, and read (p_read): checks every enforced limit of every line,
-- then records on all or none. A line's limits are flattened: limit j belongs to line p_line[j],
-- counts over window p_ids[j] (rolling: p_seconds[j]; calendar: the next p_nb[j] values of
-- p_bounds; lifetime: neither). Answers each line's state before the call.
--
-- p_more: the amounts of further charges on the same lines at the same time (a run, from
-- decide_many), each decided in turn on what the ones before it left, so that a run on a hot
-- ledger loads, brings up to date and writes its row once. Their answers: more_allowed, one per
-- charge; more_committed, more_reserved and more_newest, the states before each, concatenated.
CREATE OR REPLACE FUNCTION ${o.decide}(
  p_keys text[], p_line int[], p_ids text[], p_seconds double precision[], p_nb int[],
  p_bounds double precision[], p_max numeric[], p_enforce int[], p_amount numeric,
  p_now double precision, p_budget_ms double precision,
  p_hold text, p_ttl double precision, p_retain double precision, p_read boolean, p_more numeric[],
  OUT allowed boolean, OUT committed text[], OUT reserved text[], OUT newest double precision[],
  OUT now double precision, OUT more_allowed boolean[], OUT more_committed text[], OUT more_reserved text[],
  OUT more_newest double precision[])
LANGUAGE plpgsql ${PLANNER} AS $fn$
#variable_conflict use_column
DECLARE
${declarations}
BEGIN
  v_read := p_read;
${lock(o)}
${upgrade(o)}
  v_amount := p_amount * 0.000000000000000001;
${prepare(o)}
${upgrade(o)}
  allowed := true;
  IF NOT v_read THEN
    FOR v_j IN 1..v_m LOOP
      IF p_enforce[v_j] = 1 AND t_val[v_lk[v_j]] + v_res[p_line[v_j]] + v_amount > p_max[v_j] * 0.000000000000000001 THEN
        allowed := false;
        EXIT;
      END IF;
    END LOOP;
  END IF;
  IF allowed AND NOT v_read THEN
    IF p_hold IS NULL THEN
      IF v_amount > 0 THEN
        v_amts := ARRAY[v_amount];
        v_befs := '{0}';
        v_sum := v_amount;
      END IF;
    ELSE
      INSERT INTO ${o.holds} (id, amount, expires_at, forget_at)
        VALUES (p_hold, v_amount, v_now + p_ttl, v_now + p_ttl + p_retain);
      IF v_amount > 0 THEN
        FOR v_i IN 1..v_n LOOP
          INSERT INTO ${o.holdLines} (hold, ledger, amount, expires_at) VALUES (p_hold, v_lids[v_i], v_amount, v_now + p_ttl);
          v_res[v_i] := v_res[v_i] + v_amount;
          v_dirty[v_i] := true;
        END LOOP;
      END IF;
      -- Forget a few holds past their late-commit window per reservation made: each goes once.
      DELETE FROM ${o.holds} WHERE ctid = ANY (ARRAY(
        SELECT h.ctid FROM ${o.holds} h WHERE h.forget_at <= v_now ORDER BY h.forget_at LIMIT 8 FOR UPDATE SKIP LOCKED));
    END IF;
  END IF;
  more_allowed := '{}';
  more_committed := '{}';
  more_reserved := '{}';
  more_newest := '{}';
  -- Every total counts a spend recorded now, so each later charge sees the totals plus v_sum.
  FOR v_q IN 1..coalesce(cardinality(p_more), 0) LOOP
    v_ra := p_more[v_q] * 0.000000000000000001;
    v_ok := true;
    FOR v_j IN 1..v_m LOOP
      more_committed := more_committed || trunc((t_val[v_lk[v_j]] + v_sum) * 1000000000000000000)::text;
      IF v_ok AND p_enforce[v_j] = 1
          AND t_val[v_lk[v_j]] + v_sum + v_res[p_line[v_j]] + v_ra > p_max[v_j] * 0.000000000000000001 THEN
        v_ok := false;
      END IF;
    END LOOP;
    FOR v_i IN 1..v_n LOOP
      more_reserved := more_reserved || trunc(v_res[v_i] * 1000000000000000000)::text;
      more_newest := more_newest || CASE WHEN v_sum > 0 THEN v_t[v_i] WHEN v_new[v_i] = '-infinity' THEN NULL ELSE v_new[v_i] END;
    END LOOP;
    more_allowed := more_allowed || v_ok;
    IF v_ok AND v_ra > 0 THEN
      v_amts := v_amts || v_ra;
      v_befs := v_befs || v_sum;
      v_sum := v_sum + v_ra;
    END IF;
  END LOOP;
  v_record := v_sum > 0;
${save(o)}
  PERFORM ${o.deadline}(p_budget_ms);
END
$fn$;

-- decide_many: a batch of decide() calls in one transaction, decided in order. Call c takes the
-- next p_nk[c] keys, p_nl[c] limits and p_nbs[c] boundaries of the flattened arrays, and element c
-- of the others. p_run[c] > 0 starts a run of that many calls, the next ones (p_run 0) charges on
-- the same lines at the same time, decided by one decide() (see p_more). Answers one row per call:
-- its decision, or its error (SQLSTATE, message, detail, hint) with nothing of it written.
--
-- The calls run in one subtransaction, not one each: a savepoint per call that locks and updates a
-- row its transaction already holds makes a MultiXact per call and pushes the batch past the 64
-- subtransactions a backend caches, which made each call ten times dearer. So a call (a run) that
-- fails rolls the pass back; its error is kept, and the pass runs again without it (a batch that
-- fails k times runs k + 1 passes; failures are rare). The ledgers the calls lock (p_lock) are
-- locked first, all at once in key order, so that two batches never deadlock over calls that one
-- by one would not; that wait is bounded by the longest time any call has left. Then a run's lock
-- waits are bounded by its calls' shortest time, and by half of what the calls decided before it
-- have left (they commit only when the batch does): a call stopped by others' time rather than
-- its own answers BG503, and is sent again.
CREATE OR REPLACE FUNCTION ${o.decideMany}(
  p_nk int[], p_nl int[], p_nbs int[],
  p_keys text[], p_line int[], p_ids text[], p_seconds double precision[], p_nb int[],
  p_bounds double precision[], p_max numeric[], p_enforce int[], p_amount numeric[],
  p_now double precision[], p_budget_ms double precision[],
  p_hold text[], p_ttl double precision[], p_retain double precision[], p_read int[], p_lock text[],
  p_run int[])
RETURNS TABLE (allowed boolean, committed text[], reserved text[], newest double precision[],
  now double precision, state text, message text, detail text, hint text)
LANGUAGE plpgsql ${PLANNER} AS $fn$
#variable_conflict use_column
DECLARE
  v_calls int := cardinality(p_nk);
  v_c int;                   -- the first call of the run being decided; 0 while locking
  v_k int;
  v_l int;
  v_b int;
  v_left double precision;   -- the least budget of the calls decided so far
  v_budget double precision;  -- the run's: its calls' least, or less (below)
  v_own double precision;
  v_run int[];               -- the calls of the run not failed yet
  v_first int;
  v_j int;
  v_more numeric[];
  v_m int;
  v_n int;
  d record;
  -- Per call, its answer (arrays as text: plpgsql has no arrays of arrays) or its error.
  r_allowed boolean[] := '{}';
  r_committed text[] := '{}';
  r_reserved text[] := '{}';
  r_newest text[] := '{}';
  r_now double precision[] := '{}';
  r_state text[] := array_fill(NULL::text, ARRAY[v_calls]);
  r_message text[] := '{}';
  r_detail text[] := '{}';
  r_hint text[] := '{}';
BEGIN
  LOOP
    v_c := 0;
    BEGIN
      IF cardinality(p_lock) > 0 THEN
        PERFORM ${o.bound}((SELECT max(b) FROM unnest(p_budget_ms) b));
        PERFORM 1 FROM ${o.ledgers} l WHERE l.key = ANY (p_lock) ORDER BY l.key FOR UPDATE;
      END IF;
      v_k := 0;
      v_l := 0;
      v_b := 0;
      v_left := NULL;
      FOR v_i IN 1..v_calls LOOP
        IF p_run[v_i] > 0 THEN
          v_c := v_i;
          v_run := '{}';
          v_own := NULL;
          FOR v_j IN v_i .. v_i + p_run[v_i] - 1 LOOP
            IF r_state[v_j] IS NULL THEN
              v_run := v_run || v_j;
              v_own := least(v_own, p_budget_ms[v_j]);
            END IF;
          END LOOP;
          v_budget := v_own;
          IF v_left IS NOT NULL THEN
            -- At most half of what the calls decided before have left: the rest stays for the
            -- calls after this one and the commit, so that waiting here cannot fail the batch.
            v_budget := least(v_budget, (v_left + 1000 * date_part('epoch', clock_timestamp() - statement_timestamp())) / 2);
          END IF;
          IF cardinality(v_run) > 0 THEN
            v_first := v_run[1];
            v_more := '{}';
            FOR v_j IN 2..cardinality(v_run) LOOP
              v_more := v_more || p_amount[v_run[v_j]];
            END LOOP;
            SELECT * INTO d FROM ${o.decide}(p_keys[v_k + 1 : v_k + p_nk[v_i]], p_line[v_l + 1 : v_l + p_nl[v_i]],
              p_ids[v_l + 1 : v_l + p_nl[v_i]], p_seconds[v_l + 1 : v_l + p_nl[v_i]], p_nb[v_l + 1 : v_l + p_nl[v_i]],
              p_bounds[v_b + 1 : v_b + p_nbs[v_i]], p_max[v_l + 1 : v_l + p_nl[v_i]], p_enforce[v_l + 1 : v_l + p_nl[v_i]],
              p_amount[v_first], p_now[v_first], v_budget, p_hold[v_first], p_ttl[v_first], p_retain[v_first],
              p_read[v_first] = 1, v_more);
            r_allowed[v_first] := d.allowed;
            r_committed[v_first] := d.committed::text;
            r_reserved[v_first] := d.reserved::text;
            r_newest[v_first] := d.newest::text;
            r_now[v_first] := d.now;
            v_m := p_nl[v_i];
            v_n := p_nk[v_i];
            FOR v_j IN 2..cardinality(v_run) LOOP
              r_allowed[v_run[v_j]] := d.more_allowed[v_j - 1];
              r_committed[v_run[v_j]] := d.more_committed[(v_j - 2) * v_m + 1 : (v_j - 1) * v_m]::text;
              r_reserved[v_run[v_j]] := d.more_reserved[(v_j - 2) * v_n + 1 : (v_j - 1) * v_n]::text;
              r_newest[v_run[v_j]] := d.more_newest[(v_j - 2) * v_n + 1 : (v_j - 1) * v_n]::text;
              r_now[v_run[v_j]] := d.now;
            END LOOP;
            v_left := least(v_left, v_own);
          END IF;
        END IF;
        v_k := v_k + p_nk[v_i];
        v_l := v_l + p_nl[v_i];
        v_b := v_b + p_nbs[v_i];
      END LOOP;
      EXIT;
    EXCEPTION WHEN OTHERS THEN
      IF v_c = 0 OR cardinality(v_run) = 0 THEN
        RAISE; -- locking failed: the whole batch
      END IF;
      GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL,
        hint = PG_EXCEPTION_HINT;
      FOREACH v_j IN ARRAY v_run LOOP
        r_state[v_j] := CASE WHEN state IN ('55P03', '57014') AND v_budget < p_budget_ms[v_j]
                             THEN '${AGAIN_SQLSTATE}' ELSE state END;
        r_message[v_j] := message;
        r_detail[v_j] := detail;
        r_hint[v_j] := hint;
      END LOOP;
    END;
  END LOOP;
  PERFORM ${o.deadline}(v_left);
  FOR v_i IN 1..v_calls LOOP
    state := r_state[v_i];
    IF state IS NULL THEN
      allowed := r_allowed[v_i];
      committed := r_committed[v_i]::text[];
      reserved := r_reserved[v_i]::text[];
      newest := r_newest[v_i]::double precision[];
      now := r_now[v_i];
      message := NULL;
      detail := NULL;
      hint := NULL;
    ELSE
      allowed := NULL;
      committed := NULL;
      reserved := NULL;
      newest := NULL;
      now := NULL;
      message := r_message[v_i];
      detail := r_detail[v_i];
      hint := r_hint[v_i];
    END IF;
    RETURN NEXT;
  END LOOP;
END
$fn$;

-- commit: replaces a hold by a spend of the actual amount, recorded now on the lines (given as
-- to decide). Answers whether the hold had expired, and each line's state before the commit.
CREATE OR REPLACE FUNCTION ${o.commit}(
  p_id text, p_keys text[], p_line int[], p_ids text[], p_seconds double precision[], p_nb int[],
  p_bounds double precision[], p_actual numeric, p_now double precision, p_budget_ms double precision,
  OUT late boolean, OUT committed text[], OUT reserved text[], OUT newest double precision[],
  OUT now double precision)
LANGUAGE plpgsql ${PLANNER} AS $fn$
#variable_conflict use_column
DECLARE
${declarations}
BEGIN
${lock(o)}
  v_amount := p_actual * 0.000000000000000001;
${prepare(o)}
${bound(o, "  ")}
  DELETE FROM ${o.holds} h WHERE h.id = p_id RETURNING h.expires_at, h.forget_at INTO v_expires, v_forget;
  IF NOT FOUND OR v_forget <= v_now THEN
    RAISE EXCEPTION 'budgetgate: reservation % not found', p_id USING ERRCODE = '${NOT_FOUND_SQLSTATE}';
  END IF;
  late := v_expires <= v_now;
  FOR v_id, v_freed IN DELETE FROM ${o.holdLines} h WHERE h.hold = p_id RETURNING h.ledger, h.amount LOOP
    v_i := array_position(v_lids, v_id);
    IF v_i IS NULL THEN
      UPDATE ${o.ledgers} l SET reserved = l.reserved - v_freed WHERE l.id = v_id;
    ELSE
      v_res[v_i] := v_res[v_i] - v_freed;
      v_dirty[v_i] := true;
    END IF;
  END LOOP;
  IF v_amount > 0 THEN
    v_amts := ARRAY[v_amount];
    v_befs := '{0}';
    v_sum := v_amount;
  END IF;
  v_record := v_sum > 0;
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
      WHERE h.hold = p_id ORDER BY l.key LOOP
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

-- scan: one page of ledgers in key order, keyset-paginated on the key's index: keys in
-- [p_from, p_to) (p_to NULL: no end) after p_after, at most p_limit of them, each with its holds
-- and every total it keeps, at the ledger's time. Reads one snapshot, locks nothing, writes nothing.
CREATE OR REPLACE FUNCTION ${o.scan}(
  p_from text, p_to text, p_after text, p_limit int, p_now double precision)
RETURNS TABLE (key text, reserved text, ids text[], committed text[], now double precision)
LANGUAGE plpgsql STABLE ${PLANNER} AS $fn$
#variable_conflict use_column
DECLARE
  r record;
  v_t double precision;
  v_k int;
  v_base numeric;
  v_at double precision;
  v_h double precision;
  v_c int;
  v_freed numeric;
BEGIN
  now := coalesce(p_now, date_part('epoch', clock_timestamp()));
  FOR r IN SELECT l.* FROM ${o.ledgers} l
      WHERE l.key >= p_from AND (p_to IS NULL OR l.key < p_to) AND (p_after IS NULL OR l.key > p_after)
      ORDER BY l.key LIMIT p_limit LOOP
    v_t := greatest(now, r.newest);
    key := r.key;
    v_freed := 0;
    IF r.reserved > 0 THEN
      SELECT coalesce(sum(h.amount), 0) INTO v_freed FROM ${o.holdLines} h WHERE h.ledger = r.id AND h.expires_at <= now;
    END IF;
    reserved := trunc((r.reserved - v_freed) * 1000000000000000000)::text;
    ids := '{}';
    committed := '{}';
    v_c := 0;
    FOR v_k IN 1..cardinality(r.w_ids) LOOP
      v_base := r.w_base[v_k];
      IF r.w_seconds[v_k] IS NOT NULL THEN
        v_h := greatest(v_t - r.w_seconds[v_k], r.floor);
        IF NOT (v_h >= r.w_from[v_k] AND r.w_to[v_k] >= v_h) THEN
          SELECT s.before INTO v_base FROM ${o.spends} s
            WHERE s.ledger = r.id AND s.at >= v_h ORDER BY s.at, s.before LIMIT 1;
          IF NOT FOUND THEN v_base := r.recorded; END IF;
        END IF;
      ELSIF r.w_from[v_k] IS NOT NULL AND NOT (r.w_from[v_k] <= v_t AND v_t < r.w_to[v_k]) THEN
        v_base := r.recorded; -- a calendar period that is not the current one counts nothing now
      END IF;
      CONTINUE WHEN r.recorded = v_base; -- counts nothing: as good as dropped
      v_c := v_c + 1;
      ids[v_c] := r.w_ids[v_k];
      committed[v_c] := trunc((r.recorded - v_base) * 1000000000000000000)::text;
    END LOOP;
    RETURN NEXT;
  END LOOP;
END
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

// Arrays start empty: assigning element i extends them, reading an unset one gives NULL. Per line
// (v_*), and per running total of every line, flattened (t_*: t_line says whose).
const declarations = `  v_n int := cardinality(p_keys);
  v_m int := cardinality(p_ids);
  v_read boolean := false;       -- read: no lock, no write, unless a total must be made
  v_lids bigint[] := '{}';       -- the ledger rows' ids
  v_rec numeric[] := '{}';
  v_res numeric[] := '{}';
  v_new double precision[] := '{}';
  v_old double precision[] := '{}';
  v_floor double precision[] := '{}';
  v_t double precision[] := '{}'; -- the ledger's time: max(now, newest)
  v_dirty boolean[] := '{}';     -- the row must be written (a total made or restarted, holds gone)
  v_lk int[] := '{}';            -- per limit: its total
  t_line int[] := '{}';
  t_ids text[] := '{}';
  t_sec double precision[] := '{}';
  t_base numeric[] := '{}';
  t_from double precision[] := '{}';
  t_to double precision[] := '{}';
  t_val numeric[] := '{}';       -- the total at the line's time
  t_gone boolean[] := '{}';      -- counts nothing at the line's time: dropped (made again from the log if named)
  a_ids text[];
  a_sec double precision[];
  a_base numeric[];
  a_from double precision[];
  a_to double precision[];
  v_missing boolean := false;
  v_key text;
  v_i int;
  v_j int;
  v_k int;
  v_c int;
  v_bo int := 0;
  v_id bigint;
  v_r numeric;
  v_s numeric;
  v_nw double precision;
  v_od double precision;
  v_fl double precision;
  v_now double precision;
  v_x double precision;
  v_h double precision;
  v_at double precision;
  v_start double precision;
  v_end double precision;
  v_longest double precision;
  v_b numeric;
  v_amount numeric;
  v_freed numeric;
  v_expires double precision;
  v_forget double precision;
  v_record boolean := false;
  v_amts numeric[] := '{}';      -- the spends to record now, in order (a run's allowed charges)
  v_befs numeric[] := '{}';      -- per spend, what the ones before it add up to
  v_sum numeric := 0;            -- their sum
  v_q int;
  v_ra numeric;
  v_ok boolean;
  v_order int[];`;

/** Bounds the next lock wait by the caller's remaining time. */
function bound(o: SchemaObjects, indent: string): string {
  return `${indent}PERFORM ${o.bound}(p_budget_ms);`;
}

/**
 * Locks (creating if need be) every ledger of the call, in one global order — by key, bytewise —
 * so that several-ledger calls never deadlock, whatever order their lines come in. One key, the
 * usual case, skips the sort. A read only looks, and notes a ledger that is not there yet.
 * Then the time: the server's (or the engine's), and per ledger never before its newest spend.
 */
function lock(o: SchemaObjects): string {
  return `  IF v_n = 1 THEN
    v_order := '{1}';
  ELSE
    SELECT array_agg(u.i::int ORDER BY u.k COLLATE "C") INTO v_order FROM unnest(p_keys) WITH ORDINALITY AS u(k, i);
  END IF;
  FOREACH v_i IN ARRAY v_order LOOP
    v_key := p_keys[v_i];
    IF v_read THEN
      SELECT l.id, l.recorded, l.reserved, l.newest, l.oldest, l.floor, l.w_ids, l.w_seconds, l.w_base, l.w_from, l.w_to
        INTO v_id, v_r, v_s, v_nw, v_od, v_fl, a_ids, a_sec, a_base, a_from, a_to
        FROM ${o.ledgers} l WHERE l.key = v_key;
      IF NOT FOUND THEN
        v_missing := true;
        EXIT;
      END IF;
    ELSE
${bound(o, "      ")}
      LOOP
        SELECT l.id, l.recorded, l.reserved, l.newest, l.oldest, l.floor, l.w_ids, l.w_seconds, l.w_base, l.w_from, l.w_to
          INTO v_id, v_r, v_s, v_nw, v_od, v_fl, a_ids, a_sec, a_base, a_from, a_to
          FROM ${o.ledgers} l WHERE l.key = v_key FOR UPDATE;
        EXIT WHEN FOUND;
        INSERT INTO ${o.ledgers} AS l (key) VALUES (v_key) ON CONFLICT (key) DO NOTHING
          RETURNING l.id, l.recorded, l.reserved, l.newest, l.oldest, l.floor, l.w_ids, l.w_seconds, l.w_base, l.w_from, l.w_to
          INTO v_id, v_r, v_s, v_nw, v_od, v_fl, a_ids, a_sec, a_base, a_from, a_to;
        EXIT WHEN FOUND;
        -- Another call created it since our SELECT: lock theirs on the next pass.
      END LOOP;
    END IF;
    v_lids[v_i] := v_id;
    v_rec[v_i] := v_r;
    v_res[v_i] := v_s;
    v_new[v_i] := v_nw;
    v_old[v_i] := v_od;
    v_floor[v_i] := v_fl;
    v_dirty[v_i] := false;
    FOR v_k IN 1..cardinality(a_ids) LOOP
      v_c := cardinality(t_ids) + 1;
      t_line[v_c] := v_i;
      t_ids[v_c] := a_ids[v_k];
      t_sec[v_c] := a_sec[v_k];
      t_base[v_c] := a_base[v_k];
      t_from[v_c] := a_from[v_k];
      t_to[v_c] := a_to[v_k];
      t_gone[v_c] := false;
    END LOOP;
  END LOOP;
  v_now := coalesce(p_now, date_part('epoch', clock_timestamp()));
  FOR v_i IN 1..v_n LOOP
    v_t[v_i] := greatest(v_now, v_new[v_i]);
  END LOOP;`;
}

/** A read that must write (a ledger or a total to make, a period to restart) starts over, locking. */
function upgrade(o: SchemaObjects): string {
  return `  IF v_read AND v_missing THEN
    -- A read makes no ledger: one that is not there has nothing.
    committed := array_fill('0'::text, ARRAY[v_m]);
    reserved := '{0}';
    newest := '{NULL}';
    now := v_now;
    RETURN;
  END IF;
  IF v_read AND true = ANY (v_dirty) THEN
    SELECT d.allowed, d.committed, d.reserved, d.newest, d.now INTO allowed, committed, reserved, newest, now
      FROM ${o.decide}(p_keys, p_line, p_ids, p_seconds, p_nb, p_bounds, p_max, p_enforce, 0, p_now, p_budget_ms,
                       NULL, NULL, NULL, false, NULL) d;
    RETURN;
  END IF;`;
}

/**
 * Brings every line up to its time and answers its state (OUT committed, reserved, newest, now):
 * expired holds stop counting; every total the ledger keeps moves to the ledger's time (a rolling
 * window that slid past its first counted spend finds the next with one index probe) and one that
 * counts nothing is dropped (made again from the log when next named, so dropping it changes no
 * answer); the log's floor rises to the start of the longest rolling window still kept. Then each
 * limit's total: made from the log on first use, restarted from it in a new calendar period —
 * after checking that the ledger's time is inside the boundaries sent (nothing written so far
 * outlives the error this raises).
 */
function prepare(o: SchemaObjects): string {
  const probe = (horizon: string) => `SELECT s.before, s.at INTO v_b, v_at FROM ${o.spends} s
          WHERE s.ledger = v_lids[v_i] AND s.at >= ${horizon} ORDER BY s.at, s.before LIMIT 1;
        IF NOT FOUND THEN
          v_b := v_rec[v_i];
          v_at := 'infinity';
        END IF;`;
  return `  FOR v_i IN 1..v_n LOOP
    IF v_res[v_i] > 0 THEN
      IF v_read THEN
        SELECT coalesce(sum(h.amount), 0) INTO v_freed FROM ${o.holdLines} h
          WHERE h.ledger = v_lids[v_i] AND h.expires_at <= v_now;
      ELSE
        -- Holds past their TTL stop counting; each hold line is deleted exactly once.
        WITH gone AS (DELETE FROM ${o.holdLines} h WHERE h.ledger = v_lids[v_i] AND h.expires_at <= v_now RETURNING h.amount)
        SELECT coalesce(sum(gone.amount), 0) INTO v_freed FROM gone;
        IF v_freed > 0 THEN
          v_dirty[v_i] := true;
        END IF;
      END IF;
      v_res[v_i] := v_res[v_i] - v_freed;
    END IF;
  END LOOP;
  FOR v_k IN 1..cardinality(t_ids) LOOP
    v_i := t_line[v_k];
    v_x := v_t[v_i];
    IF t_sec[v_k] IS NOT NULL THEN
      v_h := greatest(v_x - t_sec[v_k], v_floor[v_i]);
      IF NOT (v_h >= t_from[v_k] AND t_to[v_k] >= v_h) THEN
        -- One index probe: the first spend still in the window, and the total before it.
        ${probe("v_h")}
        t_base[v_k] := v_b;
        t_from[v_k] := v_h;
        t_to[v_k] := v_at;
      END IF;
      t_val[v_k] := v_rec[v_i] - t_base[v_k];
    ELSIF t_from[v_k] IS NOT NULL AND NOT (t_from[v_k] <= v_x AND v_x < t_to[v_k]) THEN
      t_val[v_k] := 0; -- a calendar period that is not the current one
    ELSE
      t_val[v_k] := v_rec[v_i] - t_base[v_k];
    END IF;
    t_gone[v_k] := t_val[v_k] = 0;
  END LOOP;
  FOR v_i IN 1..v_n LOOP
    v_longest := NULL;
    FOR v_k IN 1..cardinality(t_ids) LOOP
      IF t_line[v_k] = v_i AND NOT t_gone[v_k] THEN
        v_longest := greatest(v_longest, t_sec[v_k]);
      END IF;
    END LOOP;
    v_floor[v_i] := greatest(v_floor[v_i], v_t[v_i] - coalesce(v_longest, 0));
  END LOOP;
  committed := '{}';
  FOR v_j IN 1..v_m LOOP
    v_i := p_line[v_j];
    v_x := v_t[v_i];
    IF p_nb[v_j] > 0 THEN
      -- The period that holds the ledger's time, as currentPeriod() in budgetgate/store picks it.
      v_start := NULL;
      FOR v_k IN REVERSE p_nb[v_j] - 1 .. 1 LOOP
        IF p_bounds[v_bo + v_k] <= v_x THEN
          IF v_x < p_bounds[v_bo + v_k + 1] THEN
            v_start := p_bounds[v_bo + v_k];
            v_end := p_bounds[v_bo + v_k + 1];
          END IF;
          EXIT;
        END IF;
      END LOOP;
      IF v_start IS NULL THEN
        RAISE EXCEPTION 'budgetgate: time % is outside the periods sent for calendar window %', v_x, p_ids[v_j]
          USING ERRCODE = '${PERIOD_RANGE_SQLSTATE}', DETAIL = p_ids[v_j], HINT = v_x::text;
      END IF;
      v_bo := v_bo + p_nb[v_j];
    END IF;
    v_k := NULL;
    FOR v_c IN 1..cardinality(t_ids) LOOP
      IF t_line[v_c] = v_i AND t_ids[v_c] = p_ids[v_j] THEN
        v_k := v_c;
        EXIT;
      END IF;
    END LOOP;
    IF v_k IS NULL THEN
      v_k := cardinality(t_ids) + 1;
      t_line[v_k] := v_i;
      t_ids[v_k] := p_ids[v_j];
      t_gone[v_k] := true;
    END IF;
    v_lk[v_j] := v_k;
    IF t_gone[v_k] OR (p_nb[v_j] > 0 AND (t_from[v_k] <> v_start OR t_to[v_k] <> v_end)) THEN
      -- Made (again) from the spends the log holds in the window.
      t_sec[v_k] := p_seconds[v_j];
      IF p_seconds[v_j] IS NOT NULL THEN
        v_h := greatest(v_x - p_seconds[v_j], v_floor[v_i]);
      ELSIF p_nb[v_j] > 0 THEN
        v_h := greatest(v_start, v_floor[v_i]);
      ELSE
        v_h := v_floor[v_i];
      END IF;
      ${probe("v_h")}
      t_base[v_k] := v_b;
      IF p_seconds[v_j] IS NOT NULL THEN
        t_from[v_k] := v_h;
        t_to[v_k] := v_at;
      ELSIF p_nb[v_j] > 0 THEN
        t_from[v_k] := v_start;
        t_to[v_k] := v_end;
      ELSE
        t_from[v_k] := NULL;
        t_to[v_k] := NULL;
      END IF;
      t_val[v_k] := v_rec[v_i] - v_b;
      t_gone[v_k] := false;
      -- One that counts nothing would be dropped at the next touch: kept unwritten, it changes nothing.
      IF t_val[v_k] <> 0 THEN
        v_dirty[v_i] := true;
      END IF;
    END IF;
    committed[v_j] := trunc(t_val[v_k] * 1000000000000000000)::text;
  END LOOP;
  reserved := '{}';
  newest := '{}';
  FOR v_i IN 1..v_n LOOP
    reserved[v_i] := trunc(v_res[v_i] * 1000000000000000000)::text;
    newest[v_i] := CASE WHEN v_new[v_i] = '-infinity' THEN NULL ELSE v_new[v_i] END;
  END LOOP;
  now := v_now;`;
}

/**
 * Writes back every ledger that changed, in one statement each: its totals (those that count
 * nothing dropped) and its log's floor; and, when v_record, the spends of v_amts at the ledger's
 * time — raising "recorded", and so every total it keeps, and logged if it keeps a rolling total.
 * Once log rows below the floor have piled up for an eighth of the longest window (a minute at
 * most), a bounded batch of them is deleted: 16 leave for each one that enters, so any backlog
 * drains, and a ledger with nothing to expire pays nothing for expiry.
 */
function save(o: SchemaObjects): string {
  return `  FOR v_i IN 1..v_n LOOP
    CONTINUE WHEN NOT (v_record OR v_dirty[v_i]);
    a_ids := '{}';
    a_sec := '{}';
    a_base := '{}';
    a_from := '{}';
    a_to := '{}';
    v_c := 0;
    v_longest := NULL;
    v_at := v_t[v_i];
    FOR v_k IN 1..cardinality(t_ids) LOOP
      CONTINUE WHEN t_line[v_k] <> v_i OR t_gone[v_k];
      IF t_sec[v_k] IS NOT NULL THEN
        v_longest := greatest(v_longest, t_sec[v_k]);
        IF v_record AND t_to[v_k] = 'infinity' THEN
          t_to[v_k] := v_at; -- this spend is the first the window counts
        END IF;
      END IF;
      v_c := v_c + 1;
      a_ids[v_c] := t_ids[v_k];
      a_sec[v_c] := t_sec[v_k];
      a_base[v_c] := t_base[v_k];
      a_from[v_c] := t_from[v_k];
      a_to[v_c] := t_to[v_k];
    END LOOP;
    IF NOT v_record THEN
      UPDATE ${o.ledgers} l SET reserved = v_res[v_i], floor = v_floor[v_i], w_ids = a_ids, w_seconds = a_sec,
        w_base = a_base, w_from = a_from, w_to = a_to WHERE l.id = v_lids[v_i];
    ELSIF v_old[v_i] < v_floor[v_i] - least(coalesce(v_longest, 480) / 8, 60) THEN
      WITH spend AS (
        INSERT INTO ${o.spends} (ledger, at, before, amount)
          SELECT v_lids[v_i], v_at, v_rec[v_i] + u.b, u.a FROM unnest(v_befs, v_amts) AS u(b, a) WHERE v_longest IS NOT NULL
      ), expired AS (
        DELETE FROM ${o.spends} WHERE ctid = ANY (ARRAY(
          SELECT s.ctid FROM ${o.spends} s WHERE s.ledger = v_lids[v_i] AND s.at < v_floor[v_i]
          ORDER BY s.at, s.before LIMIT 16))
        RETURNING at
      ), batch AS (
        SELECT count(*) AS n, max(e.at) AS last FROM expired e
      )
      UPDATE ${o.ledgers} l SET recorded = v_rec[v_i] + v_sum, reserved = v_res[v_i], newest = v_at,
        oldest = CASE WHEN b.n = 16 THEN b.last WHEN v_longest IS NULL THEN 'infinity' ELSE v_floor[v_i] END,
        floor = v_floor[v_i], w_ids = a_ids, w_seconds = a_sec, w_base = a_base, w_from = a_from, w_to = a_to
        FROM batch b WHERE l.id = v_lids[v_i];
    ELSIF v_longest IS NULL THEN
      UPDATE ${o.ledgers} l SET recorded = v_rec[v_i] + v_sum, reserved = v_res[v_i], newest = v_at,
        floor = v_floor[v_i], w_ids = a_ids, w_seconds = a_sec, w_base = a_base, w_from = a_from, w_to = a_to
        WHERE l.id = v_lids[v_i];
    ELSE
      WITH spend AS (
        INSERT INTO ${o.spends} (ledger, at, before, amount)
          SELECT v_lids[v_i], v_at, v_rec[v_i] + u.b, u.a FROM unnest(v_befs, v_amts) AS u(b, a)
      )
      UPDATE ${o.ledgers} l SET recorded = v_rec[v_i] + v_sum, reserved = v_res[v_i], newest = v_at,
        oldest = least(v_old[v_i], v_at), floor = v_floor[v_i],
        w_ids = a_ids, w_seconds = a_sec, w_base = a_base, w_from = a_from, w_to = a_to WHERE l.id = v_lids[v_i];
    END IF;
  END LOOP;`;
}
