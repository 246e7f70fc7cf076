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
 * Per ledger, four keys (see keys.ts), which differ only in their last letter, the kind: `t` the
 * state, a string "c|r|o|z|p|e|k|n|g": c committed and r reserved (decimal strings of units), o and
 * z the oldest and newest spend time in the list, p the oldest straggler time, e a lower bound of
 * the earliest hold expiry, k keep-until (server ms, or "p" for never), n a straggler counter, g the
 * server µs at which this state was created. `l` a list of spends in time order (time, amount,
 * time, amount…). `s` a sorted set of stragglers, spends that came out of time order (members
 * "amount:n") and refunds ("-amount:n", which leave the window exactly when the spend they cancel
 * does). `x` a sorted set of active holds by expiry (members "amount:id"). A hold's own key holds
 * "amount|expiresAt|forgetAt".
 *
 * Wire format, kept small because every argument costs the client and the server alike. Each
 * ledger is named by its state key only; the script derives the other three, which end in another
 * kind letter and share its hash tag, hence its Cluster slot. KEYS[1] is the batch's receipt key, then each operation's keys in
 * turn: its ledgers' state keys, then the hold's key for a reserve or settle. ARGV[1] is the
 * receipt lifetime in ms; then one string per operation, fields each ended by "|": code, number of
 * keys, deadline (server µs, empty for none), now (empty for the server's clock), then its own.
 * Reply: server seconds, microseconds, then one string per operation, fields joined by "|", the
 * first the status: -1 deadline passed (nothing done), -2 error (then the message).
 */
const BATCH = `--!df flags=allow-undeclared-keys
-- (Dragonfly refuses keys a script does not declare unless told; Redis reads this as a comment.)
${ARITHMETIC_LUA}
local smatch, gmatch, concat = string.match, string.gmatch, table.concat
local RECEIPT_TTL = ARGV[1]
local seen = redis.call('GET', KEYS[1])
if seen then return { 'R', seen } end

local t = redis.call('TIME')
local us = tonum(t[1]) * 1000000 + tonum(t[2])
local ms = math.floor(us / 1000)
local function seconds(sec, usec) return sec .. '.' .. string.rep('0', 6 - #usec) .. usec end
-- The server's time in seconds as a string, so that it is stored as read, never reformatted.
local server_now_s = seconds(t[1], t[2])
local function window_of(w) if w == '' then return nil end return tonum(w) end

-- The fields of an operation's text from position pos on (each ended by '|'), for the operations
-- that have no pattern of their own.
local function split(text, pos)
  local f, n = {}, 0
  for x in gmatch(ssub(text, pos), '([^|]*)|') do n = n + 1; f[n] = x end
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
  return first[2] or ''
end
local function sum_members(members)
  local total = '0'
  for j = 1, #members do total = add(total, smatch(members[j], '^%d+')) end
  return total
end

local STATE = '^(%d+)|(%d+)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(%d*)|(%d*)$'

-- Reads a ledger (state key KEYS[ki]) and drops the spends and holds whose time has passed.
-- Times are kept as the strings they were written as.
local function open(ki, now, window)
  local tk = KEYS[ki]
  local v = redis.call('GET', tk)
  local c, r, o, z, p, e, keep, n, g
  if v then
    c, r, o, z, p, e, keep, n, g = smatch(v, STATE)
    if not c then error('corrupt budgetgate state at ' .. tk .. ': ' .. v) end
  else
    c, r, o, z, p, e, keep, n, g = '0', '0', '', '', '', '', '', '', fmt('%d', us)
  end
  -- Every field at once: growing a table rehashes it, and a bigger one costs more to make and to
  -- collect.
  local st = { tk = tk, base = false, c = c, r = r, o = o, z = z, p = p, e = e, k = keep, n = n,
    g = g, dirty = false, wrote = false }
  if window then
    local horizon = now - window
    local gone, back = '0', '0'
    local on = tonum(o)
    if on and on < horizon then
      local lk = sibling(st, 'l')
      repeat
        gone = add(gone, redis.call('LPOP', lk, 2)[2])
        local head = redis.call('LINDEX', lk, 0)
        st.o = head or ''
        on = head and tonum(head)
      until not on or on >= horizon
      if st.o == '' then st.z = '' end
    end
    local pn = tonum(p)
    if pn and pn < horizon then
      local sk = sibling(st, 's')
      local bound = '(' .. fmt('%.17g', horizon)
      local members = redis.call('ZRANGEBYSCORE', sk, '-inf', bound)
      for j = 1, #members do
        local sign, amount = smatch(members[j], '^(-?)(%d+)')
        if sign == '-' then back = add(back, amount) else gone = add(gone, amount) end
      end
      redis.call('ZREMRANGEBYSCORE', sk, '-inf', bound)
      st.p = first_score(sk)
    end
    if gone ~= '0' or back ~= '0' then
      -- Refunds first: a refunded spend leaves together with its refund.
      st.c = sub(add(st.c, back), gone)
      st.dirty = true
    end
  end
  local en = tonum(e)
  if en and en <= now then
    local xk = sibling(st, 'x')
    local bound = fmt('%.17g', now)
    st.r = sub(st.r, sum_members(redis.call('ZRANGEBYSCORE', xk, '-inf', bound)))
    redis.call('ZREMRANGEBYSCORE', xk, '-inf', bound)
    st.e = first_score(xk)
    st.dirty = true
  end
  return st
end

-- Adds a member to the stragglers at time_s (a spend that came out of order, or a refund "-").
local function straggle(st, time_s, member)
  if st.p == '' then st.new_s = true end
  st.n = fmt('%d', (tonum(st.n) or 0) + 1)
  redis.call('ZADD', sibling(st, 's'), time_s, member .. ':' .. st.n)
  if st.p == '' or tonum(time_s) < tonum(st.p) then st.p = time_s end
end

-- Records a spend at now (now_s as a string). Spends almost always come in time order and go to
-- the tail of a list whose head is the oldest: O(1) both ways. One older than the newest (a clock
-- set back, or processes with clocks of their own) goes to the stragglers instead.
-- Lifetime ledgers keep only the total: their spends never leave.
local function spend(st, now, now_s, window, amount)
  if amount == '0' then return end
  st.c = add(st.c, amount)
  st.dirty, st.wrote = true, true
  if not window then return end
  local zn = tonum(st.z)
  if not zn or now >= zn then
    if st.o == '' then st.o, st.new_l = now_s, true end
    redis.call('RPUSH', sibling(st, 'l'), now_s, amount)
    st.z = now_s
  else
    straggle(st, now_s, amount)
  end
end

-- Takes back a spend of amount recorded at time_s by a batch that ran at server µs batch_us,
-- unless the ledger was cleared since (its state is younger) or the spend has left the window.
local function refund(st, now, window, amount, time_s, batch_us)
  if amount == '0' or tonum(st.g) > batch_us then return end
  if window and tonum(time_s) < now - window then return end
  st.c = sub(st.c, amount)
  st.dirty, st.wrote = true, true
  if window then straggle(st, time_s, '-' .. amount) end
end

-- Writes the state back. After a write, keeps the ledger's keys alive while anything in them
-- counts: the window (spends), the hold TTL (holds), forever for a lifetime budget. keep-until only
-- grows, with some slack so that most writes need not move it.
local function pack(st)
  return st.c .. '|' .. st.r .. '|' .. st.o .. '|' .. st.z .. '|' .. st.p .. '|' .. st.e .. '|' .. st.k .. '|'
    .. st.n .. '|' .. st.g
end
local function close(st, window, hold_ttl)
  if not st.dirty then return end
  if not st.wrote or st.k == 'p' then
    redis.call('SET', st.tk, pack(st), 'KEEPTTL')
    return
  end
  if not window then
    st.k = 'p'
    redis.call('SET', st.tk, pack(st))
    redis.call('PERSIST', sibling(st, 'l'))
    redis.call('PERSIST', sibling(st, 's'))
    redis.call('PERSIST', sibling(st, 'x'))
    return
  end
  local life = window
  if hold_ttl and hold_ttl > life then life = hold_ttl end
  life = math.ceil(life * 1000) + 1000
  if (tonum(st.k) or 0) >= ms + life then
    redis.call('SET', st.tk, pack(st), 'KEEPTTL')
    if st.new_l then redis.call('PEXPIREAT', sibling(st, 'l'), st.k) end
    if st.new_s then redis.call('PEXPIREAT', sibling(st, 's'), st.k) end
    if st.wrote_x then redis.call('PEXPIREAT', sibling(st, 'x'), st.k) end
    return
  end
  local slack = math.floor(life / 8)
  if slack > 60000 then slack = 60000 end
  st.k = fmt('%d', ms + life + slack)
  redis.call('SET', st.tk, pack(st), 'PXAT', st.k)
  redis.call('PEXPIREAT', sibling(st, 'l'), st.k)
  redis.call('PEXPIREAT', sibling(st, 's'), st.k)
  redis.call('PEXPIREAT', sibling(st, 'x'), st.k)
end

-- a + b <= m, for canonical digit strings, without building the sum when lengths settle it.
local function sum_le(a, b, m)
  local la, lb, lm = #a, #b, #m
  if la < lm - 1 and lb < lm - 1 then return true end
  return le(add(a, b), m)
end

-- Opens every line and decides whether amount fits all. Line i has max f[2i - 1] and window f[2i].
-- Returns the states, windows, whether it fits, and the totals as 'total|total…'.
local function decide(k, lines, f, now, amount)
  local states, windows, totals, fits = {}, {}, {}, true
  for i = 1, lines do
    local window = window_of(f[2 * i])
    local st = open(k + i, now, window)
    states[i], windows[i] = st, window
    local total = add(st.c, st.r)
    totals[i] = total
    if not sum_le(total, amount, f[2 * i - 1]) then fits = false end
  end
  return states, windows, fits, concat(totals, '|')
end

-- Takes hold id (amount) off a ledger if it still counts there.
local function unhold(st, amount, id)
  if redis.call('ZREM', sibling(st, 'x'), amount .. ':' .. id) == 1 then
    st.r = sub(st.r, amount)
    st.dirty = true
  end
end

-- Each operation gets the index before its first key, its number of keys, its text and the
-- position of its own fields in it, and the time; it answers a string, status first.
local OPS = {}

-- charge. Keys: a state key per line. Fields: amount, then max and window per line.
-- Answer: '1' allowed or '0' blocked, then the spend per line before it.
OPS.c = function(k, nk, text, pos, now, now_s)
  if nk == 1 then
    -- The common case, without the tables of several lines.
    local amount, max, w = smatch(text, '^(%d+)|(%d+)|([^|]*)|$', pos)
    local window = window_of(w)
    local st = open(k + 1, now, window)
    local total = st.c
    if st.r ~= '0' then total = add(st.c, st.r) end
    local allowed = sum_le(total, amount, max)
    if allowed then spend(st, now, now_s, window, amount) end
    close(st, window, nil)
    return (allowed and '1|' or '0|') .. total
  end
  local amount, at = smatch(text, '^(%d+)|()', pos)
  local states, windows, fits, totals = decide(k, nk, split(text, at), now, amount)
  for i = 1, nk do
    if fits then spend(states[i], now, now_s, windows[i], amount) end
    close(states[i], windows[i], nil)
  end
  return (fits and '1|' or '0|') .. totals
end

-- reserve. Keys: a state key per line, then the hold's. Fields: amount, id, ttl, retain, then max
-- and window per line. Answer as for charge.
OPS.r = function(k, nk, text, pos, now)
  local amount, id, ttl, retain, at = smatch(text, '^(%d+)|([^|]*)|([^|]*)|([^|]*)|()', pos)
  ttl, retain = tonum(ttl), tonum(retain)
  local lines = nk - 1
  local states, windows, fits, totals = decide(k, lines, split(text, at), now, amount)
  if fits then
    local expires = now + ttl
    local expires_s = fmt('%.17g', expires)
    local member = amount .. ':' .. id
    for i = 1, lines do
      local st = states[i]
      st.r = add(st.r, amount)
      redis.call('ZADD', sibling(st, 'x'), expires_s, member)
      st.dirty, st.wrote, st.wrote_x = true, true, true
      if st.e == '' or expires < tonum(st.e) then st.e = expires_s end
    end
    redis.call('SET', KEYS[k + nk], amount .. '|' .. expires_s .. '|' .. fmt('%.17g', expires + retain),
      'PX', fmt('%d', math.ceil((ttl + retain) * 1000) + 1000))
  end
  for i = 1, lines do close(states[i], windows[i], ttl) end
  return (fits and '1|' or '0|') .. totals
end

-- commit or release. Keys: a state key per line, then the hold's. Fields: id, actual (empty for a
-- release), then window per line. Answer: '1' settled, '2' settled late, '0' not found.
OPS.s = function(k, nk, text, pos, now, now_s)
  local f, lines = split(text, pos), nk - 1
  local id, actual = f[1], f[2]
  local states, windows = {}, {}
  for i = 1, lines do
    local window = window_of(f[2 + i])
    states[i], windows[i] = open(k + i, now, window), window
  end
  local hold_key = KEYS[k + nk]
  local record = redis.call('GET', hold_key)
  local amount, expires, forget
  if record then amount, expires, forget = smatch(record, '^(%d+)|([^|]+)|([^|]+)$') end
  if not amount or now >= tonum(forget) then
    if record then redis.call('DEL', hold_key) end
    for i = 1, lines do close(states[i], windows[i], nil) end
    return '0'
  end
  local late = tonum(expires) <= now
  if not late then
    for i = 1, lines do unhold(states[i], amount, id) end
  end
  redis.call('DEL', hold_key)
  if actual ~= '' then
    for i = 1, lines do spend(states[i], now, now_s, windows[i], actual) end
  end
  for i = 1, lines do close(states[i], windows[i], nil) end
  if late then return '2' end
  return '1'
end

-- spent. Keys: the state key. Fields: window. Answer: '1', then the total.
OPS.q = function(k, nk, text, pos, now)
  local st = open(k + 1, now, window_of(smatch(text, '^([^|]*)|', pos)))
  close(st, nil, nil)
  return '1|' .. add(st.c, st.r)
end

-- clear. Keys: the state key. Answer: '1'.
OPS.d = function(k)
  local st = { tk = KEYS[k + 1], base = false }
  redis.call('DEL', st.tk, sibling(st, 'l'), sibling(st, 's'), sibling(st, 'x'))
  return '1'
end

-- undo: reverses the charges and holds of an earlier batch that took effect although their caller
-- was told they failed. Keys: the batch's receipt key, then per operation its keys (a state key
-- per line, then the hold's for a reserve). Fields: the number of operations, then per operation
-- its position in the batch, code, number of lines, amount, now (empty for the batch's server
-- time), hold id (empty for a charge), and window per line. Answer: '1'.
OPS.u = function(k, nk, text, pos, now)
  local receipt_key = KEYS[k + 1]
  local receipt = redis.call('GET', receipt_key)
  if not receipt then
    redis.call('SET', receipt_key, 'X', 'PX', RECEIPT_TTL) -- never ran: now it never will
    return '1'
  end
  if receipt == 'X' then return '1' end
  local sec, usec, statuses = smatch(receipt, '^(%d+)|(%d+)|(.*)$')
  local batch_us = tonum(sec) * 1000000 + tonum(usec)
  local batch_now_s = seconds(sec, usec)
  local f = split(text, pos)
  local kp, fp = k + 1, 2
  for _ = 1, tonum(f[1]) do
    local index, code, lines = tonum(f[fp]), f[fp + 1], tonum(f[fp + 2])
    local amount, given, id = f[fp + 3], f[fp + 4], f[fp + 5]
    if ssub(statuses, index, index) == '1' then
      local time_s = batch_now_s
      if given ~= '' then time_s = given end
      for i = 1, lines do
        local window = window_of(f[fp + 5 + i])
        local st = open(kp + i, now, window)
        if code == 'c' then refund(st, now, window, amount, time_s, batch_us) else unhold(st, amount, id) end
        close(st, window, nil)
      end
      if code == 'r' then redis.call('DEL', KEYS[kp + lines + 1]) end
    end
    kp = kp + lines
    if code == 'r' then kp = kp + 1 end
    fp = fp + 6 + lines
  end
  redis.call('SET', receipt_key, 'X', 'KEEPTTL')
  return '1'
end

local reply = { t[1], t[2] }
local statuses, changed = {}, false
local k = 1
for j = 2, #ARGV do
  local text = ARGV[j]
  local op, nk, deadline, now_s, pos = smatch(text, '^(%a)|(%d+)|(%d*)|([^|]*)|()')
  nk = tonum(nk)
  local answer
  if deadline ~= '' and us > tonum(deadline) then
    answer = '-1'
  else
    if now_s == '' then now_s = server_now_s end
    local ok, out = pcall(OPS[op], k, nk, text, pos, tonum(now_s), now_s)
    if ok then
      answer = out
    elseif type(out) == 'table' and out.err then
      answer = '-2|' .. out.err
    else
      answer = '-2|' .. tostring(out)
    end
  end
  -- One status character per operation for the receipt: S deadline passed, E error, else the
  -- status; and whether the operation changed anything.
  local first = ssub(answer, 1, 1)
  if first == '-' then
    statuses[j - 1] = ssub(answer, 2, 2) == '1' and 'S' or 'E'
  else
    statuses[j - 1] = first
    if op == 'd' or op == 'u' or (op ~= 'q' and first ~= '0') then changed = true end
  end
  reply[j + 1] = answer
  k = k + nk
end
-- A batch that changed nothing needs no receipt: running it again would only decide again.
if changed then
  redis.call('SET', KEYS[1], t[1] .. '|' .. t[2] .. '|' .. concat(statuses), 'PX', RECEIPT_TTL)
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
} as const;

/** Operation codes of the batch script. */
export const OP = { charge: "c", reserve: "r", settle: "s", spent: "q", clear: "d", undo: "u" } as const;
