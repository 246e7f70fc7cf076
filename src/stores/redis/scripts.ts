import { createHash } from "node:crypto";
import { ARITHMETIC_LUA } from "./arith.js";
import { CHARGE_OPERATION, DECIDE } from "./lua/charge.js";
import { FIELD_HELPERS } from "./lua/fields.js";
import { BATCH_FLAGS, BATCH_FUNCTION, BATCH_STATE } from "./lua/frame.js";
import { RESERVE_OPERATION, SETTLE_OPERATION, UNHOLD } from "./lua/hold.js";
import { LEDGER_STATE } from "./lua/ledger.js";
import { CLEAR_OPERATION, LIST_OPERATION, READ_OPERATION, UNDO_OPERATION } from "./lua/maintenance.js";

/**
 * The Lua of the Redis store: one script that runs a batch of operations (the calls that one
 * process made in the same tick, see batch.ts), each as if it ran alone, all atomically and in one
 * round trip.
 *
 * Each operation first compares the server's clock with its deadline and changes nothing once it
 * has passed (a command replayed after the engine gave up is a no-op); then reads every ledger it
 * touches and its limits, and picks each calendar period by the ledger's time (the later of the
 * clock and the ledger's newest spend), answering a period error, before any write, if the
 * boundaries sent do not hold that time; then expires the due holds and spends, finds or creates
 * the running total of each window the call names, decides and writes. Expiry work grows with what
 * expires: each rolling total keeps its position in the log and the time of the spend there, so a
 * call with nothing due reads nothing from the log.
 *
 * Every batch that changes something leaves a receipt under its own id, for `receiptTtlMs`: the
 * server time it ran at and one status character per operation. A batch whose receipt exists does
 * nothing and answers {'R', receipt}: a client that resends a command after a dropped connection
 * (ioredis does) cannot apply it twice. The undo operation reads a receipt to reverse, exactly, the
 * charges and holds of a batch that took effect although the engine had given up on them (or could
 * not know); on a batch that never ran it leaves a tombstone receipt "X", so that it never will.
 *
 * Redis has no rollback: a script that fails halfway keeps its earlier writes. So each operation
 * reads and decides first and writes last (the only earlier writes are expiries, correct on their
 * own, and they come after the period check), and runs under pcall so that one failing operation
 * does not abort the others.
 *
 * What costs in Redis Lua is turning strings into numbers and back (strtod, sprintf), struct's
 * packing and unpacking (a few hundred instructions a value), pattern matching, and making strings
 * and tables; the hot path avoids them where it can: a line's limits and a state's window
 * directory are parsed once per distinct text per script call (the ledgers of one budget share
 * them), as is which total each limit counts in, and a state is read and written in one struct call.
 *
 * Per ledger, three keys (see keys.ts), which differ only in their last letter, the kind:
 * - `t` the state, one string packed by `struct` (little-endian doubles): the number of totals n
 *   (−n − 1 when the holds part follows); g, the server µs at which this state was created; k,
 *   keep-until in server ms (0 unknown, +inf never); z, the newest spend's time (−inf: none); head
 *   and tail, the absolute positions of the log's first entry and one past its last; the length of
 *   the window directory, then the directory: per total its kind letter (r, c, l) and window id,
 *   ended by a zero byte; the holds part if any: reserved (three limbs, see arith.ts) and a lower
 *   bound of the earliest hold expiry; then six doubles per total: committed (three limbs), and
 *   for a rolling window its seconds, its position in the log and the time of the spend there
 *   (+inf: none), for a calendar window its period's start and end (and 0). Times are in seconds,
 *   as the engine's clock gives them. A calendar total whose period has ended is dropped when the
 *   state is written (it would restart from the log anyway).
 * - `l` the log: one element per spend, in time order, its time (a packed double) then its amount
 *   (the decimal string it came as); appended at the tail, and dropped from the head, 32 at a time,
 *   once no rolling total counts them. Kept only while the ledger keeps a rolling total.
 * - `x` a sorted set of active holds by expiry (members "amount:id").
 * A hold's own key holds its expiry and forget-by times (two packed doubles), then its amount.
 *
 * Wire format, kept small because every argument costs the client and the server alike. Each
 * ledger is named by its state key only; the script derives the other two, which end in another
 * kind letter and share its hash tag, hence its Cluster slot. KEYS[1] is the batch's receipt key,
 * then each operation's keys in turn: its ledgers' state keys, then the hold's key for a reserve or
 * settle. ARGV[1] is the receipt lifetime in ms, ARGV[2] the number of limits texts, which
 * follow; then one string per operation, fields each ended by a zero byte (read by
 * struct.unpack): code, number of keys, deadline (server µs, empty for none), now (empty for the
 * server's clock), then its own, and last, for each line whose limits it reads, the index in ARGV
 * of their text. A limits text goes once per batch, however many operations name it (the calls
 * of one tick mostly share one budget): every byte of an argument costs Redis its copy and Lua
 * its hash. It holds the limits' count, then per limit its code (r, c or l, a capital for a
 * shadow limit), window id, max, and the rolling window's seconds, or the calendar window's
 * number of boundaries and the boundaries, or an empty field. Reply: one flat array (a nested one
 * costs Redis several lookups per table to convert): server seconds, microseconds, then per
 * operation its status and its values, as many as its code, status and limits imply: -1 deadline
 * passed (nothing done), -2 error (then the message), -3 a calendar period out of range (then the
 * line and limit, 1-based, and the ledger's time). A line's state is its committed per limit, its
 * reserved, then its newest spend time; an amount as one value, an integer below 10^15, else "u"
 * and its decimal digits; times as whole microseconds when exact, otherwise "t" and their digits, none as
 * nil.
 *
 * The text is assembled, in this order, from named parts, one file per concern under lua/: the
 * batch's frame (frame.ts: opening and main loop), field helpers (fields.ts), the integer-limb
 * arithmetic (arith.ts), a ledger's state (ledger.ts: open, limits, prepare, spend, refund,
 * close), the charge logic (charge.ts: decide, charge), the hold logic (hold.ts: unhold, reserve,
 * settle), and read, list (for scan), clear and undo (maintenance.ts).
 * test/stores/redis/scripts.test.ts pins the SHA-1 of the result.
 */
const BATCH_BODY = [
  `${ARITHMETIC_LUA}\n`,
  BATCH_STATE,
  FIELD_HELPERS,
  LEDGER_STATE,
  DECIDE,
  UNHOLD,
  CHARGE_OPERATION,
  RESERVE_OPERATION,
  SETTLE_OPERATION,
  READ_OPERATION,
  LIST_OPERATION,
  CLEAR_OPERATION,
  UNDO_OPERATION,
  BATCH_FUNCTION,
].join("");

/** As a script: its body, run in full by every EVALSHA (its own locals shadow KEYS and ARGV). */
const BATCH = `${BATCH_FLAGS}local batch_keys, batch_args = KEYS, ARGV\n${BATCH_BODY}return batch(batch_keys, batch_args)\n`;

/** The version of the library: the start of the SHA-1 of its code, in its name and its function's. */
const VERSION = createHash("sha1").update(BATCH_BODY).digest("hex").slice(0, 16);

/**
 * One step of clearAll: SCAN from cursor ARGV[1] for pattern ARGV[2] (COUNT ARGV[3]) and unlink
 * what it finds. Reply: the next cursor ("0" when done).
 */
const SCAN_DELETE = `
local r = redis.call('SCAN', ARGV[1], 'MATCH', ARGV[2], 'COUNT', ARGV[3])
for _, key in ipairs(r[2]) do redis.call('UNLINK', key) end
return r[1]
`;

/**
 * One step of scan: SCAN from cursor ARGV[1] for pattern ARGV[2] (COUNT ARGV[3]), again from the
 * cursor it answers while nothing matched (at most 8 times), so that a page among many foreign
 * keys is not empty for nothing. Reply: {the next cursor ("0" when done), seconds, microseconds,
 * the keys found…}.
 */
const SCAN = `
local cursor, found = ARGV[1], {}
for _ = 1, 8 do
  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[2], 'COUNT', ARGV[3])
  cursor, found = r[1], r[2]
  if cursor == '0' or #found > 0 then break end
end
local t = redis.call('TIME')
local reply = { cursor, t[1], t[2] }
for i = 1, #found do reply[i + 3] = found[i] end
return reply
`;

/**
 * The first contact of a store: claims a prefix for a key layout (the marker key KEYS[1] is set to
 * ARGV[1] unless it holds a layout already) and reads the server's clock, so that the store learns
 * both in one round trip. Reply: {the layout the marker names, seconds, microseconds}.
 */
const LAYOUT = `
local t = redis.call('TIME')
local found = redis.call('GET', KEYS[1])
if not found then
  found = ARGV[1]
  redis.call('SET', KEYS[1], found)
end
return {found, t[1], t[2]}
`;

/** Deletes the marker KEYS[1] if it names layout ARGV[1] (clearAll's last step). Reply: 1 if deleted. */
const UNCLAIM = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** A script's text and the SHA-1 that EVALSHA knows it by. */
export interface Script {
  readonly name: string;
  readonly source: string;
  readonly sha1: string;
}

function script(name: string, source: string): Script {
  return { name, source, sha1: createHash("sha1").update(source).digest("hex") };
}

/** Every script the store runs. */
export const SCRIPTS = {
  batch: script("batch", BATCH),
  scanDelete: script("scanDelete", SCAN_DELETE),
  scan: script("scan", SCAN),
  layout: script("layout", LAYOUT),
  unclaim: script("unclaim", UNCLAIM),
} as const;

/** A Redis Functions library: its code as FUNCTION LOAD takes it, and the function it registers. */
export interface FunctionLibrary {
  readonly name: string;
  readonly source: string;
  readonly sha1: string;
  /** The name FCALL calls it by. */
  readonly batch: string;
}

/**
 * The batch as a Redis Function: the same body, whose definitions run once, on the library's first
 * call, and not on every call as a script's do (which costs about as much as a one-limit charge).
 * Not at load: Redis 7 loads a library with no globals but `redis` (no string, struct or tonumber
 * for the body's locals to take), so the body is wrapped in a function that its first call runs.
 * Library and function are named by the body's hash, so that two versions of budgetgate sharing a
 * server each call their own.
 */
export const LIBRARY: FunctionLibrary = (() => {
  const name = `budgetgate_${VERSION}`;
  const batch = `budgetgate_batch_${VERSION}`;
  const source = `#!lua name=${name}
local function define()
${BATCH_BODY}return batch
end
local run
redis.register_function('${batch}', function(keys, args)
  if not run then run = define() end
  return run(keys, args)
end)
`;
  return { name, source, sha1: createHash("sha1").update(source).digest("hex"), batch };
})();

/** Operation codes of the batch script. */
export const OP = { charge: "c", reserve: "r", settle: "s", read: "q", list: "v", clear: "d", undo: "u" } as const;
