import { createHash } from "node:crypto";
import { ARITHMETIC_LUA } from "./arith.js";

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
 */
const BATCH = `--!df flags=allow-undeclared-keys
-- (Dragonfly refuses keys a script does not declare unless told; Redis reads this as a comment.)
${ARITHMETIC_LUA}
local unpack, pack, fmt, gmatch, smatch = struct.unpack, struct.pack, string.format, string.gmatch, string.match
local HUGE = math.huge
local RECEIPT_TTL = ARGV[1]
local seen = redis.call('GET', KEYS[1])
if seen then return { 'R', seen } end

local t = redis.call('TIME')
-- The reply, and its length: operations append their values to it (see the end).
local reply, rn = { t[1], t[2] }, 2
local function emit(h, m, l)
  reply[rn + 1], reply[rn + 2], reply[rn + 3] = h, m, l
  rn = rn + 3
end
-- Server time in µs, and as a 16-digit string that deadlines (also µs) compare with as strings.
local function micros(sec, usec) return tonum(sec) * 1000000 + tonum(usec) end
local us = micros(t[1], t[2])
local us_s = t[1] .. string.rep('0', 6 - #t[2]) .. t[2]
local server_now = us / 1000000
local ms = math.floor(us / 1000)

-- Small numbers of the fields (windows, counts, TTLs), converted once per call.
local NUM = {}
local function num(s)
  local v = NUM[s]
  if v == nil then
    v = tonum(s)
    NUM[s] = v
  end
  return v
end
local function window_of(w) if w == '' then return nil end return num(w) end

-- A time packed as the list keeps it; the batch's own time is packed once.
local packed_at, packed = nil, nil
local function time_bytes(x)
  if x ~= packed_at then packed_at, packed = x, pack('<d', x) end
  return packed
end

-- The fields of an operation's text from position pos on, for the operations whose number of
-- fields varies.
local function split(text, pos)
  local f, n = {}, 0
  for x in gmatch(ssub(text, pos), '([^%z]*)%z') do n = n + 1; f[n] = x end
  return f
end

-- Another key of a ledger: its state key with the last letter, its kind, replaced (keys.ts).
local function sibling(st, kind)
  local base = st.base
  if not base then
    base = ssub(st.tk, 1, -2)
    st.base = base
  end
  return base .. kind
end

local function first_score(key)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then return tonum(first[2]) end
  return HUGE
end

local SHORT, FULL = '<ddddddd', '<ddddddddddddd'
-- One state table per line, reused by every operation: operations run one after another, and a
-- table made per call would cost more to make and to collect than the work it holds.
local POOL = {}

-- Reads a ledger (state key KEYS[ki]) into the slot-th state table and drops the spends and holds
-- whose time has passed.
local function open(ki, now, window, slot)
  local tk = KEYS[ki]
  local st = POOL[slot]
  if not st then
    st = {}
    POOL[slot] = st
  end
  st.tk, st.base, st.dirty, st.wrote, st.new_l, st.new_s, st.wrote_x = tk, false, false, false, false, false, false
  local v = redis.call('GET', tk)
  local size = v and #v or 0
  if size == 56 then
    st.ch, st.cm, st.cl, st.o, st.z, st.k, st.g = unpack(SHORT, v)
    st.rh, st.rm, st.rl, st.p, st.e, st.n = 0, 0, 0, HUGE, HUGE, 0
  elseif size == 104 then
    st.ch, st.cm, st.cl, st.o, st.z, st.k, st.g, st.rh, st.rm, st.rl, st.p, st.e, st.n = unpack(FULL, v)
  elseif v then
    error('corrupt budgetgate state at ' .. tk)
  else
    st.ch, st.cm, st.cl, st.o, st.z, st.k, st.g, st.rh, st.rm, st.rl, st.p, st.e, st.n =
      0, 0, 0, HUGE, -HUGE, 0, us, 0, 0, 0, HUGE, HUGE, 0
  end
  st.size = size
  if window then
    local horizon = now - window
    local gh, gm, gl, bh, bm, bl = 0, 0, 0, 0, 0, 0
    if st.o < horizon then
      local lk = sibling(st, 'l')
      repeat
        -- Two single pops, not one of two: an array answer costs Lua a table, dearer than a call.
        local amount = redis.call('LPOP', lk)
        if not amount then error('corrupt budgetgate spends at ' .. lk) end
        gh, gm, gl = add3(gh, gm, gl, dec(amount))
        local next_time = redis.call('LPOP', lk)
        if next_time then st.o = unpack('<d', next_time) else st.o = HUGE end
      until st.o >= horizon
      if st.o == HUGE then st.z = -HUGE end
      st.dirty = true
    end
    if st.p < horizon then
      local sk = sibling(st, 's')
      local bound = '(' .. fmt('%.17g', horizon)
      local members = redis.call('ZRANGEBYSCORE', sk, '-inf', bound)
      for j = 1, #members do
        local sign, amount = smatch(members[j], '^(-?)(%d+)')
        if sign == '-' then bh, bm, bl = add3(bh, bm, bl, dec(amount)) else gh, gm, gl = add3(gh, gm, gl, dec(amount)) end
      end
      redis.call('ZREMRANGEBYSCORE', sk, '-inf', bound)
      st.p = first_score(sk)
      st.dirty = true
    end
    if st.dirty then
      -- Refunds first: a refunded spend leaves together with its refund.
      local ch, cm, cl = add3(st.ch, st.cm, st.cl, bh, bm, bl)
      st.ch, st.cm, st.cl = sub3(ch, cm, cl, gh, gm, gl)
    end
  end
  if st.e <= now then
    local xk = sibling(st, 'x')
    local members = redis.call('ZRANGEBYSCORE', xk, '-inf', now)
    local rh, rm, rl = st.rh, st.rm, st.rl
    for j = 1, #members do rh, rm, rl = sub3(rh, rm, rl, dec(smatch(members[j], '^%d+'))) end
    st.rh, st.rm, st.rl = rh, rm, rl
    redis.call('ZREMRANGEBYSCORE', xk, '-inf', now)
    st.e = first_score(xk)
    st.dirty = true
  end
  return st
end

-- Adds a member to the stragglers at time (a spend that came out of order, or a refund "-").
local function straggle(st, time, member)
  if st.p == HUGE then st.new_s = true end
  st.n = st.n + 1
  redis.call('ZADD', sibling(st, 's'), time, member .. ':' .. st.n)
  if time < st.p then st.p = time end
end

-- Records a spend (a decimal string) at now. Spends almost always come in time order and go to
-- the tail of a list whose head is the oldest: O(1) both ways. One older than the newest (a clock
-- set back, or processes with clocks of their own) goes to the stragglers instead.
-- Lifetime ledgers keep only the total: their spends never leave.
local function spend(st, now, window, amount)
  if amount == '0' then return end
  st.ch, st.cm, st.cl = add3(st.ch, st.cm, st.cl, dec(amount))
  st.dirty, st.wrote = true, true
  if not window then return end
  if now >= st.z then
    if st.o == HUGE then
      st.o, st.new_l = now, true
      redis.call('RPUSH', sibling(st, 'l'), amount)
    else
      redis.call('RPUSH', sibling(st, 'l'), time_bytes(now), amount)
    end
    st.z = now
  else
    straggle(st, now, amount)
  end
end

-- Takes back a spend of amount recorded at time by a batch that ran at server µs batch_us, unless
-- the ledger was cleared since (its state is younger) or the spend has left the window.
local function refund(st, now, window, amount, time, batch_us)
  if amount == '0' or st.g > batch_us then return end
  if window and time < now - window then return end
  st.ch, st.cm, st.cl = sub3(st.ch, st.cm, st.cl, dec(amount))
  st.dirty, st.wrote = true, true
  if window then straggle(st, time, '-' .. amount) end
end

-- Writes the state back. After a write, keeps the ledger's keys alive while anything in them
-- counts: the window (spends), the hold TTL (holds), forever for a lifetime budget. keep-until only
-- grows, with some slack so that most writes need not move it.
local function close(st, window, hold_ttl)
  if not st.dirty then return end
  local keep = true -- keep the keys' expiry as it is
  if st.wrote and st.k ~= HUGE then
    if not window then
      st.k, keep = HUGE, false
    else
      local life = window
      if hold_ttl and hold_ttl > life then life = hold_ttl end
      life = math.ceil(life * 1000) + 1000
      if st.k < ms + life then
        local slack = math.floor(life / 8)
        if slack > 60000 then slack = 60000 end
        st.k, keep = ms + life + slack, false
      end
    end
  end
  local v
  if st.p == HUGE and st.e == HUGE and st.rl == 0 and st.rm == 0 and st.rh == 0 then
    -- The straggler counter only keeps members apart; with no straggler left it can start over.
    v = pack(SHORT, st.ch, st.cm, st.cl, st.o, st.z, st.k, st.g)
  else
    v = pack(FULL, st.ch, st.cm, st.cl, st.o, st.z, st.k, st.g, st.rh, st.rm, st.rl, st.p, st.e, st.n)
  end
  if keep then
    if #v == st.size then
      -- Overwriting every byte replaces the state; SETRANGE keeps the TTL like SET KEEPTTL, and
      -- answers an integer, which costs Lua less to take than SET's status.
      redis.call('SETRANGE', st.tk, '0', v)
    else
      redis.call('SET', st.tk, v, 'KEEPTTL')
    end
    -- Keys made by this call take the ledger's expiry (a lifetime ledger's never expire).
    if st.k ~= HUGE then
      if st.new_l then redis.call('PEXPIREAT', sibling(st, 'l'), st.k) end
      if st.new_s then redis.call('PEXPIREAT', sibling(st, 's'), st.k) end
      if st.wrote_x then redis.call('PEXPIREAT', sibling(st, 'x'), st.k) end
    end
  elseif st.k == HUGE then
    redis.call('SET', st.tk, v)
    redis.call('PERSIST', sibling(st, 'l'))
    redis.call('PERSIST', sibling(st, 's'))
    redis.call('PERSIST', sibling(st, 'x'))
  else
    redis.call('SET', st.tk, v, 'PXAT', st.k)
    redis.call('PEXPIREAT', sibling(st, 'l'), st.k)
    redis.call('PEXPIREAT', sibling(st, 's'), st.k)
    redis.call('PEXPIREAT', sibling(st, 'x'), st.k)
  end
end

-- Opens every line and decides whether amount fits all. Line i has max f[2i - 1] and window f[2i].
-- Emits each line's total; returns the states, windows, and whether it fits.
local function decide(k, lines, f, now, amount)
  local states, windows, fits = {}, {}, true
  local ah, am, al = dec(amount)
  for i = 1, lines do
    local window = window_of(f[2 * i])
    local st = open(k + i, now, window, i)
    states[i], windows[i] = st, window
    local th, tm, tl = add3(st.ch, st.cm, st.cl, st.rh, st.rm, st.rl)
    emit(th, tm, tl)
    local sh, sm, sl = add3(th, tm, tl, ah, am, al)
    if not le3(sh, sm, sl, dec(f[2 * i - 1])) then fits = false end
  end
  return states, windows, fits
end

-- Takes hold id (amount) off a ledger if it still counts there.
local function unhold(st, amount, id)
  if redis.call('ZREM', sibling(st, 'x'), amount .. ':' .. id) == 1 then
    st.rh, st.rm, st.rl = sub3(st.rh, st.rm, st.rl, dec(amount))
    st.dirty = true
  end
end

-- Each operation gets the index before its first key, its number of keys, its text and the
-- position of its own fields in it, and the time; it emits its values and returns its status.
local OPS = {}

-- charge. Keys: a state key per line. Fields: amount, then max and window per line.
-- Status: 1 allowed or 0 blocked. Values: the spend per line before it.
OPS.c = function(k, nk, text, pos, now)
  if nk == 1 then
    -- The common case, without the tables of several lines.
    local amount, max, w = unpack('sss', text, pos)
    local window = window_of(w)
    local st = open(k + 1, now, window, 1)
    local th, tm, tl = add3(st.ch, st.cm, st.cl, st.rh, st.rm, st.rl)
    local sh, sm, sl = add3(th, tm, tl, dec(amount))
    local allowed = le3(sh, sm, sl, dec(max))
    if allowed then spend(st, now, window, amount) end
    close(st, window, nil)
    emit(th, tm, tl)
    return allowed and 1 or 0
  end
  local amount, at = unpack('s', text, pos)
  local states, windows, fits = decide(k, nk, split(text, at), now, amount)
  for i = 1, nk do
    if fits then spend(states[i], now, windows[i], amount) end
    close(states[i], windows[i], nil)
  end
  return fits and 1 or 0
end

-- reserve. Keys: a state key per line, then the hold's. Fields: amount, id, ttl, retain, then max
-- and window per line. Status and values as for charge.
OPS.r = function(k, nk, text, pos, now)
  local amount, id, ttl, retain, at = unpack('ssss', text, pos)
  ttl, retain = num(ttl), num(retain)
  local lines = nk - 1
  local states, windows, fits = decide(k, lines, split(text, at), now, amount)
  if fits then
    local expires = now + ttl
    local member = amount .. ':' .. id
    local ah, am, al = dec(amount)
    for i = 1, lines do
      local st = states[i]
      st.rh, st.rm, st.rl = add3(st.rh, st.rm, st.rl, ah, am, al)
      redis.call('ZADD', sibling(st, 'x'), expires, member)
      st.dirty, st.wrote, st.wrote_x = true, true, true
      if expires < st.e then st.e = expires end
    end
    redis.call('SET', KEYS[k + nk], pack('<dd', expires, expires + retain) .. amount,
      'PX', math.ceil((ttl + retain) * 1000) + 1000)
  end
  for i = 1, lines do close(states[i], windows[i], ttl) end
  return fits and 1 or 0
end

-- commit or release. Keys: a state key per line, then the hold's. Fields: id, actual (empty for a
-- release), then window per line. Status: 1 settled, 2 settled late, 0 not found.
OPS.s = function(k, nk, text, pos, now)
  local f, lines = split(text, pos), nk - 1
  local id, actual = f[1], f[2]
  local states, windows = {}, {}
  for i = 1, lines do
    local window = window_of(f[2 + i])
    states[i], windows[i] = open(k + i, now, window, i), window
  end
  local hold_key = KEYS[k + nk]
  local record = redis.call('GET', hold_key)
  local amount, expires, forget
  if record and #record > 16 then
    expires, forget = unpack('<dd', record)
    amount = ssub(record, 17)
  end
  if not amount or now >= forget then
    if record then redis.call('DEL', hold_key) end
    for i = 1, lines do close(states[i], windows[i], nil) end
    return 0
  end
  local late = expires <= now
  if not late then
    for i = 1, lines do unhold(states[i], amount, id) end
  end
  redis.call('DEL', hold_key)
  if actual ~= '' then
    for i = 1, lines do spend(states[i], now, windows[i], actual) end
  end
  for i = 1, lines do close(states[i], windows[i], nil) end
  if late then return 2 end
  return 1
end

-- spent. Keys: the state key. Fields: window. Status 1; value: the total.
OPS.q = function(k, nk, text, pos, now)
  local st = open(k + 1, now, window_of(unpack('s', text, pos)), 1)
  close(st, nil, nil)
  emit(add3(st.ch, st.cm, st.cl, st.rh, st.rm, st.rl))
  return 1
end

-- clear. Keys: the state key. Status 1.
OPS.d = function(k)
  local st = { tk = KEYS[k + 1], base = false }
  redis.call('DEL', st.tk, sibling(st, 'l'), sibling(st, 's'), sibling(st, 'x'))
  return 1
end

-- undo: reverses the charges and holds of an earlier batch that took effect although their caller
-- was told they failed. Keys: the batch's receipt key, then per operation its keys (a state key
-- per line, then the hold's for a reserve). Fields: the number of operations, then per operation
-- its position in the batch, code, number of lines, amount, now (empty for the batch's server
-- time), hold id (empty for a charge), and window per line. Status 1.
OPS.u = function(k, nk, text, pos, now)
  local receipt_key = KEYS[k + 1]
  local receipt = redis.call('GET', receipt_key)
  if not receipt then
    redis.call('SET', receipt_key, 'X', 'PX', RECEIPT_TTL) -- never ran: now it never will
    return 1
  end
  if receipt == 'X' then return 1 end
  local sec, usec, statuses = smatch(receipt, '^(%d+)|(%d+)|(.*)$')
  local batch_us = micros(sec, usec)
  local f = split(text, pos)
  local kp, fp = k + 1, 2
  for _ = 1, tonum(f[1]) do
    local index, code, lines = tonum(f[fp]), f[fp + 1], tonum(f[fp + 2])
    local amount, given, id = f[fp + 3], f[fp + 4], f[fp + 5]
    if ssub(statuses, index, index) == '1' then
      local time = batch_us / 1000000
      if given ~= '' then time = tonum(given) end
      for i = 1, lines do
        local window = window_of(f[fp + 5 + i])
        local st = open(kp + i, now, window, i)
        if code == 'c' then refund(st, now, window, amount, time, batch_us) else unhold(st, amount, id) end
        close(st, window, nil)
      end
      if code == 'r' then redis.call('DEL', KEYS[kp + lines + 1]) end
    end
    kp = kp + lines
    if code == 'r' then kp = kp + 1 end
    fp = fp + 6 + lines
  end
  redis.call('SET', receipt_key, 'X', 'KEEPTTL')
  return 1
end

-- One status character per operation for the receipt: S deadline passed, E error, else the status.
local STATUS_CHARS = { [-1] = 'S', [-2] = 'E', [0] = '0', [1] = '1', [2] = '2' }
local statuses, changed = {}, false
local k = 1
for j = 2, #ARGV do
  local text = ARGV[j]
  local op, nk, deadline, now_s, pos = unpack('ssss', text)
  nk = num(nk)
  rn = rn + 1
  local at, status = rn, -1
  reply[at] = status -- a placeholder, so that the reply stays a sequence
  -- Past the deadline: both are µs, and digit strings of one length compare as their numbers.
  if deadline == '' or #us_s < #deadline or (#us_s == #deadline and us_s <= deadline) then
    local now = server_now
    if now_s ~= '' then now = tonum(now_s) end
    local ok, out = pcall(OPS[op], k, nk, text, pos, now)
    if ok then
      status = out
    else
      -- Drop what the operation emitted before it failed.
      for i = rn, at + 1, -1 do reply[i] = nil end
      rn, status = at + 1, -2
      if type(out) == 'table' and out.err then reply[rn] = out.err else reply[rn] = tostring(out) end
    end
  end
  reply[at] = status
  statuses[j - 1] = STATUS_CHARS[status]
  if status >= 0 and (op == 'd' or op == 'u' or (op ~= 'q' and status ~= 0)) then changed = true end
  k = k + nk
end
-- A batch that changed nothing needs no receipt: running it again would only decide again.
if changed then
  redis.call('SET', KEYS[1], t[1] .. '|' .. t[2] .. '|' .. table.concat(statuses), 'PX', RECEIPT_TTL)
end
return reply
`;

/** The server's clock, to measure how far the client's is from it. Reply: {sec, usec}. */
const TIME = `return redis.call('TIME')`;

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
 * Claims a prefix for a key layout: the marker key KEYS[1] is set to ARGV[1] unless it holds a
 * layout already. Reply: {the layout the marker names}, an array as the other scripts' replies are
 * (adapters may expect one).
 */
const LAYOUT = `
local found = redis.call('GET', KEYS[1])
if found then return {found} end
redis.call('SET', KEYS[1], ARGV[1])
return {ARGV[1]}
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
  time: script("time", TIME),
  scanDelete: script("scanDelete", SCAN_DELETE),
  layout: script("layout", LAYOUT),
  unclaim: script("unclaim", UNCLAIM),
} as const;

/** Operation codes of the batch script. */
export const OP = { charge: "c", reserve: "r", settle: "s", spent: "q", clear: "d", undo: "u" } as const;
