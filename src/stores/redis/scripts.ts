import { createHash } from "node:crypto";
import { ARITHMETIC_LUA } from "./arith.js";
import { CHARGE_OPERATION, DECIDE } from "./lua/charge.js";
import { FIELD_HELPERS } from "./lua/fields.js";
import { BATCH_FLAGS, BATCH_LOOP, BATCH_OPENING } from "./lua/frame.js";
import { RESERVE_OPERATION, SETTLE_OPERATION, UNHOLD } from "./lua/hold.js";
import { LEDGER_STATE } from "./lua/ledger.js";
import { CLEAR_OPERATION, LIST_OPERATION, READ_OPERATION, UNDO_OPERATION } from "./lua/maintenance.js";

/**
 * The Lua of the Redis store: one script that runs a batch of operations (the calls that one
 * process made in the same tick, see batch.ts), each as if it ran alone, all atomically and in one
 * round trip.
 *
 * Each operation first compares the server's clock with its deadline and changes nothing once it
 * has passed (a command replayed after the engine gave up is a no-op); then expires the due spends
 * and holds of the ledgers it touches; then decides and writes. Expiry work grows with what
 * expires (plus O(log n) for the rare out-of-order spend): the state keeps the oldest spend time
 * and a lower bound of the earliest hold expiry, so a call with nothing due does no query.
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
 * own), and runs under pcall so that one failing operation does not abort the others.
 *
 * What costs in Redis Lua is turning strings into numbers and back (strtod, sprintf), pattern
 * matching, and making strings and tables; the hot path avoids all four. Per ledger, four keys
 * (see keys.ts), which differ only in their last letter, the kind:
 * - `t` the state: little-endian doubles packed by `struct`, read and written whole without a
 *   conversion: committed c (three limbs, see arith.ts); o and z, the oldest and newest spend time
 *   in the list (o = +inf, z = -inf when it is empty); k keep-until in server ms (0 unknown, +inf
 *   never); g the server µs at which this state was created; then reserved r (three limbs); p the
 *   oldest straggler time (+inf: none); e a lower bound of the earliest hold expiry (+inf: none);
 *   n a straggler counter. A ledger with no hold and no straggler, the usual case, keeps only the
 *   first seven (56 bytes instead of 104): packing costs by the byte and by the field.
 *   Times are in seconds, as the engine's clock gives them.
 * - `l` the spends in time order, as amount, time of the next, amount, time of the next, …:
 *   amounts as the decimal strings they came as, times packed doubles. Popping two elements takes
 *   the oldest spend and learns the time of the new oldest.
 * - `s` a sorted set of stragglers, spends that came out of time order (members "amount:n") and
 *   refunds ("-amount:n", which leave the window exactly when the spend they cancel does).
 * - `x` a sorted set of active holds by expiry (members "amount:id").
 * A hold's own key holds its expiry and forget-by times (two packed doubles), then its amount.
 *
 * Wire format, kept small because every argument costs the client and the server alike. Each
 * ledger is named by its state key only; the script derives the other three, which end in another
 * kind letter and share its hash tag, hence its Cluster slot. KEYS[1] is the batch's receipt key,
 * then each operation's keys in turn: its ledgers' state keys, then the hold's key for a reserve or
 * settle. ARGV[1] is the receipt lifetime in ms; then one string per operation, fields each ended
 * by a zero byte (read by struct.unpack in one call): code, number of keys, deadline (server µs,
 * empty for none), now (empty for the server's clock), then its own. Reply: one flat array (a
 * nested one costs Redis several lookups per table to convert): server seconds, microseconds,
 * then per operation its status and its values, as many as its code and status imply: -1 deadline
 * passed (nothing done), -2 error (then the message); amounts as their three limbs, integers below
 * 10^15.
 *
 * The text is assembled, in this order, from named parts, one file per concern under lua/: the
 * batch's frame (frame.ts: opening and main loop), field helpers (fields.ts), the integer-limb
 * arithmetic (arith.ts), a ledger's state (ledger.ts: open, spend, refund, close), the charge logic
 * (charge.ts: decide, charge), the hold logic (hold.ts: unhold, reserve, settle), and spent, clear
 * and undo (maintenance.ts). test/stores/redis/scripts.test.ts pins the SHA-1 of the result.
 */
const BATCH = [
  BATCH_FLAGS,
  `${ARITHMETIC_LUA}\n`,
  BATCH_OPENING,
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
  BATCH_LOOP,
].join("");

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

/** Operation codes of the batch script. */
export const OP = { charge: "c", reserve: "r", settle: "s", read: "q", list: "v", clear: "d", undo: "u" } as const;
