import { createHash } from "node:crypto";
import { ARITHMETIC_LUA } from "./arith.js";

/**
 * The Lua scripts of the Redis store. Each operation is one script, so it runs atomically on the
 * server in one round trip. Every script first reads the server's clock and refuses to change
 * anything once the caller's deadline has passed (a command replayed after the engine gave up is
 * a no-op), then expires due spends and holds of the ledgers it touches (work grows with what
 * expires, plus O(log n) sorted-set lookups), then decides and writes.
 *
 * A script that fails halfway keeps its earlier writes (Redis has no rollback), so scripts read
 * and decide first and write last; the only earlier writes are expiries, correct on their own.
 *
 * Per ledger, KEYS hold three keys (see keys.ts): a hash of totals (c committed, r reserved,
 * n spend counter, k keep-until in server ms or "p" for never), a sorted set of spends by time
 * (members "amount:n"), a sorted set of active holds by expiry (members "amount:id").
 * A hold's own key holds "amount|expiresAt|forgetAt".
 */

/** Shared helpers: exact arithmetic, the clock, opening and closing a ledger. */
const PRELUDE = `${ARITHMETIC_LUA}
local function num(x) return string.format('%.17g', x) end
-- Server time; nil when the deadline (server microseconds, '' for none) has passed.
local function clock(deadline, given)
  local t = redis.call('TIME')
  local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
  if deadline ~= '' and us > tonumber(deadline) then return nil, t, us end
  local now
  if given == '' then now = us / 1000000 else now = tonumber(given) end
  return now, t, us
end
local function window_of(w) if w == '' then return nil end return tonumber(w) end
-- Reads ledger i's totals and drops the spends and holds whose time has passed.
local function open(i, now, window)
  local t, s, x = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local v = redis.call('HMGET', t, 'c', 'r', 'n', 'k')
  local st = { t = t, s = s, x = x, c = v[1] or '0', r = v[2] or '0', n = v[3] or '0', k = v[4], dirty = false }
  if window and st.c ~= '0' then
    local bound = '(' .. num(now - window)
    local old = redis.call('ZRANGEBYSCORE', s, '-inf', bound)
    if #old > 0 then
      local gone = '0'
      for j = 1, #old do gone = add(gone, string.match(old[j], '^%d+')) end
      st.c = sub(st.c, gone)
      redis.call('ZREMRANGEBYSCORE', s, '-inf', bound)
      st.dirty = true
    end
  end
  if st.r ~= '0' then
    local bound = num(now)
    local due = redis.call('ZRANGEBYSCORE', x, '-inf', bound)
    if #due > 0 then
      local gone = '0'
      for j = 1, #due do gone = add(gone, string.match(due[j], '^%d+')) end
      st.r = sub(st.r, gone)
      redis.call('ZREMRANGEBYSCORE', x, '-inf', bound)
      st.dirty = true
    end
  end
  return st
end
-- Records a spend at now. Lifetime ledgers keep only the total: their spends never leave.
local function spend(st, now, window, amount)
  if amount == '0' then return end
  st.c = add(st.c, amount)
  st.dirty = true
  if window then
    st.n = string.format('%.0f', tonumber(st.n) + 1)
    redis.call('ZADD', st.s, num(now), amount .. ':' .. st.n)
    st.wrote_s = true
  end
end
-- Writes the totals back and keeps the ledger's keys alive as long as anything in them counts:
-- the window (spends), the hold TTL (holds), forever for a lifetime budget. keep-until only grows,
-- with some slack so that most writes need not move it.
local function close(st, window, hold_ttl, ms, written)
  if not st.dirty then return end
  if not written then
    redis.call('HSET', st.t, 'c', st.c, 'r', st.r)
    return
  end
  local grow = false
  if st.k ~= 'p' then
    if not window then
      st.k = 'p'
      grow = true
    else
      local life = window
      if hold_ttl and hold_ttl > life then life = hold_ttl end
      life = math.ceil(life * 1000) + 1000
      local need = ms + life
      local k = tonumber(st.k or '0') or 0
      if k < need then
        local slack = math.floor(life / 8)
        if slack > 60000 then slack = 60000 end
        st.k = string.format('%.0f', need + slack)
        grow = true
      end
    end
  end
  redis.call('HSET', st.t, 'c', st.c, 'r', st.r, 'n', st.n, 'k', st.k)
  if st.k == 'p' then
    if grow then
      redis.call('PERSIST', st.t)
      redis.call('PERSIST', st.s)
      redis.call('PERSIST', st.x)
    end
    return
  end
  if grow then
    redis.call('PEXPIREAT', st.t, st.k)
    redis.call('PEXPIREAT', st.s, st.k)
    redis.call('PEXPIREAT', st.x, st.k)
  else
    if st.wrote_s then redis.call('PEXPIREAT', st.s, st.k) end
    if st.wrote_x then redis.call('PEXPIREAT', st.x, st.k) end
  end
end
local function stale(t) return { -1, t[1], t[2] } end
`;

/**
 * charge. KEYS: 3 per line. ARGV: deadline, now, amount, then max and window per line.
 * Reply: {1 allowed | 0 blocked | -1 stale, sec, usec, spent per line...}.
 */
const CHARGE = `${PRELUDE}
local now, t, us = clock(ARGV[1], ARGV[2])
if not now then return stale(t) end
local amount = ARGV[3]
local lines = #KEYS / 3
local states, windows = {}, {}
local reply = { 1, t[1], t[2] }
for i = 1, lines do
  local window = window_of(ARGV[3 + 2 * i])
  local st = open(i, now, window)
  states[i], windows[i] = st, window
  local total = add(st.c, st.r)
  reply[3 + i] = total
  if not le(add(total, amount), ARGV[2 + 2 * i]) then reply[1] = 0 end
end
local ms = math.floor(us / 1000)
for i = 1, lines do
  local st = states[i]
  if reply[1] == 1 then spend(st, now, windows[i], amount) end
  close(st, windows[i], nil, ms, reply[1] == 1)
end
return reply
`;

/**
 * reserve. KEYS: 3 per line, then the hold's key. ARGV: deadline, now, amount, id, ttl, retain,
 * then max and window per line. Reply as for charge.
 */
const RESERVE = `${PRELUDE}
local now, t, us = clock(ARGV[1], ARGV[2])
if not now then return stale(t) end
local amount, id, ttl, retain = ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local lines = (#KEYS - 1) / 3
local states, windows = {}, {}
local reply = { 1, t[1], t[2] }
for i = 1, lines do
  local window = window_of(ARGV[6 + 2 * i])
  local st = open(i, now, window)
  states[i], windows[i] = st, window
  local total = add(st.c, st.r)
  reply[3 + i] = total
  if not le(add(total, amount), ARGV[5 + 2 * i]) then reply[1] = 0 end
end
local ms = math.floor(us / 1000)
local expires = now + ttl
if reply[1] == 1 then
  local member = amount .. ':' .. id
  for i = 1, lines do
    local st = states[i]
    st.r = add(st.r, amount)
    st.dirty = true
    redis.call('ZADD', st.x, num(expires), member)
    st.wrote_x = true
  end
end
for i = 1, lines do close(states[i], windows[i], ttl, ms, reply[1] == 1) end
if reply[1] == 1 then
  local life = math.ceil((ttl + retain) * 1000) + 1000
  redis.call('SET', KEYS[#KEYS], amount .. '|' .. num(expires) .. '|' .. num(expires + retain), 'PX', string.format('%.0f', life))
end
return reply
`;

/**
 * commit and release (SETTLE_TAIL decides which). KEYS: 3 per line, then the hold's key.
 * ARGV: deadline, now, id, actual ('' for a release), then window per line.
 * Reply: {1 settled | 2 settled late | 0 not found | -1 stale, sec, usec}.
 */
const SETTLE = `${PRELUDE}
local now, t, us = clock(ARGV[1], ARGV[2])
if not now then return stale(t) end
local id, actual = ARGV[3], ARGV[4]
local lines = (#KEYS - 1) / 3
local states, windows = {}, {}
for i = 1, lines do
  local window = window_of(ARGV[4 + i])
  states[i], windows[i] = open(i, now, window), window
end
local ms = math.floor(us / 1000)
local hold_key = KEYS[#KEYS]
local record = redis.call('GET', hold_key)
local amount, expires, forget
if record then amount, expires, forget = string.match(record, '^(%d+)|([^|]+)|([^|]+)$') end
if not amount or now >= tonumber(forget) then
  if record then redis.call('DEL', hold_key) end
  for i = 1, lines do close(states[i], windows[i], nil, ms, false) end
  return { 0, t[1], t[2] }
end
local late = tonumber(expires) <= now
if not late then
  local member = amount .. ':' .. id
  for i = 1, lines do
    local st = states[i]
    if redis.call('ZREM', st.x, member) == 1 then
      st.r = sub(st.r, amount)
      st.dirty = true
    end
  end
end
redis.call('DEL', hold_key)
local written = false
if actual ~= '' and actual ~= '0' then
  written = true
  for i = 1, lines do spend(states[i], now, windows[i], actual) end
end
for i = 1, lines do close(states[i], windows[i], nil, ms, written) end
if late then return { 2, t[1], t[2] } end
return { 1, t[1], t[2] }
`;

/** spent. KEYS: the ledger's 3. ARGV: deadline, now, window. Reply: {1 | -1, sec, usec, total}. */
const SPENT = `${PRELUDE}
local now, t, us = clock(ARGV[1], ARGV[2])
if not now then return stale(t) end
local st = open(1, now, window_of(ARGV[3]))
close(st, nil, nil, 0, false)
return { 1, t[1], t[2], add(st.c, st.r) }
`;

/** clear. KEYS: the ledger's 3. ARGV: deadline. Reply: {1 | -1, sec, usec}. */
const CLEAR = `
local t = redis.call('TIME')
local us = tonumber(t[1]) * 1000000 + tonumber(t[2])
if ARGV[1] ~= '' and us > tonumber(ARGV[1]) then return { -1, t[1], t[2] } end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
return { 1, t[1], t[2] }
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
  charge: script("charge", CHARGE),
  reserve: script("reserve", RESERVE),
  settle: script("settle", SETTLE),
  spent: script("spent", SPENT),
  clear: script("clear", CLEAR),
  time: script("time", TIME),
  scanDelete: script("scanDelete", SCAN_DELETE),
} as const;
