/**
 * A ledger's state in Lua: read it (open), read a line's limits and pick each calendar period by
 * the ledger's time (limits_of), drop what has expired and find or create the running total of
 * every window the call names (prepare), answer it (emit_line), record a spend (spend), take one
 * back (refund) and write the state back with its keys' lifetime (close). The layout of the values
 * is described in scripts.ts.
 */

/** The state table pool and open, limits_of, prepare, emit_line, spend, refund and close. */
export const LEDGER_STATE = `
-- The state's header without holds, the part added with holds, one running total.
local HEAD, HOLDS, FULL, TOTAL = '<dddddd', '<dddd', '<dddddddddd', '<sddddddd'
local ROLLING, CALENDAR, LIFETIME = 1, 2, 3
-- Limit codes: the kind, in capitals for a shadow limit (recorded, never blocking).
local KIND = { r = ROLLING, R = ROLLING, c = CALENDAR, C = CALENDAR, l = LIFETIME, L = LIFETIME }
local ENFORCED = { r = true, c = true, l = true }
-- Entries before every rolling window's start are dropped from the log this many at a time: one
-- LTRIM per 32 spends rather than one per spend.
local TRIM_SLACK = 32
-- One state table per line, reused by every operation: operations run one after another, and a
-- table made per call would cost more to make and to collect than the work it holds.
local POOL = {}

local function parse_state(st, v)
  local n, pos
  n, st.g, st.k, st.z, st.head, st.tail, pos = unpack(HEAD, v)
  if n < 0 then
    n = -n - 1
    st.rh, st.rm, st.rl, st.e, pos = unpack(HOLDS, v, pos)
  else
    st.rh, st.rm, st.rl, st.e = 0, 0, 0, HUGE
  end
  local id, kd, sh, sm, sl, a, b, c = st.id, st.kd, st.sh, st.sm, st.sl, st.a, st.b, st.c
  for i = 1, n do
    id[i], kd[i], sh[i], sm[i], sl[i], a[i], b[i], c[i], pos = unpack(TOTAL, v, pos)
  end
  if pos ~= #v + 1 then error('trailing bytes') end
  st.n = n
end

-- Reads the ledger of state key KEYS[ki] into the slot-th state table. Writes nothing: every
-- line of a call is opened, and its calendar periods checked, before anything changes.
local function open(ki, now, slot)
  local tk = KEYS[ki]
  local st = POOL[slot]
  if not st then
    st = { id = {}, kd = {}, sh = {}, sm = {}, sl = {}, a = {}, b = {}, c = {}, map = {},
      lk = {}, lid = {}, lmax = {}, lsec = {}, lps = {}, lpe = {}, parts = {} }
    POOL[slot] = st
  end
  st.tk, st.base, st.dirty, st.wrote, st.grew, st.new_l, st.wrote_x, st.nl = tk, false, false, false, false, false, false, 0
  local v = redis.call('GET', tk)
  if v then
    if not pcall(parse_state, st, v) then error('corrupt budgetgate state at ' .. tk) end
    st.size = #v
  else
    st.n, st.g, st.k, st.z, st.head, st.tail, st.rh, st.rm, st.rl, st.e, st.size =
      0, us, 0, -HUGE, 0, 0, 0, 0, 0, HUGE, 0
  end
  -- Time for a ledger never runs backward, so its log stays in time order whatever the clocks do.
  local z = st.z
  if now < z then st.t = z else st.t = now end
  return st
end

-- Reads the limits of line 'line' from text at pos into st: count, then per limit its code, window
-- id, max, and its seconds (rolling), number of boundaries then the boundaries (calendar), or an
-- empty field (lifetime). Picks each calendar period by the ledger's time, by currentPeriod's rule
-- (store/period.ts): the boundaries are ascending, the period is [b[i], b[i + 1]) that holds it.
-- A time outside them raises the period error, before anything is written. Returns the new pos.
local function limits_of(st, text, pos, line)
  local count
  count, pos = unpack('s', text, pos)
  count = num(count)
  local lk, lid, lmax, lsec, lps, lpe = st.lk, st.lid, st.lmax, st.lsec, st.lps, st.lpe
  local t = st.t
  for j = 1, count do
    local code, id, max, x
    code, id, max, x, pos = unpack('ssss', text, pos)
    lk[j], lid[j], lmax[j] = code, id, max
    local kind = KIND[code]
    if kind == ROLLING then
      lsec[j] = num(x)
    elseif kind == CALENDAR then
      local start, fin, prev = nil, nil, nil
      for _ = 1, num(x) do
        local b
        b, pos = unpack('s', text, pos)
        if not fin then
          b = num(b)
          if b > t then
            if prev then start, fin = prev, b else fin = false end
          else
            prev = b
          end
        end
      end
      if not start then error({ period = true, line = line, limit = j, t = t }) end
      lps[j], lpe[j] = start, fin
    elseif not kind then
      error('unknown limit code ' .. code)
    end
  end
  st.nl = count
  return pos
end

local function lindex(lk, index, length)
  -- Counted from the nearer end: a list is walked from there.
  if index + index > length then index = index - length end
  return redis.call('LINDEX', lk, index)
end

-- Drops from rolling total i the spends before horizon: one LINDEX per spend that leaves, plus one
-- for the time of the new first (the total caches the time at its position).
local function expire(st, i, horizon)
  local lk = sibling(st, 'l')
  local head, tail = st.head, st.tail
  local length = tail - head
  local pos, t = st.b[i], st.c[i]
  local h, m, l = st.sh[i], st.sm[i], st.sl[i]
  local e = nil
  while t < horizon do
    if not e then e = lindex(lk, pos - head, length) end
    if not e then error('corrupt budgetgate log at ' .. lk) end
    h, m, l = sub3(h, m, l, dec(ssub(e, 9)))
    pos = pos + 1
    if pos >= tail then
      t = HUGE
    else
      e = lindex(lk, pos - head, length)
      if not e then error('corrupt budgetgate log at ' .. lk) end
      t = unpack('<d', e)
    end
  end
  st.sh[i], st.sm[i], st.sl[i], st.b[i], st.c[i] = h, m, l, pos, t
  st.dirty = true
end

-- A new total for window kind from the log: the sum of the spends the log still holds (from
-- position lh on) at or after time from, and where they start. O(log), once per total.
local function seed(st, i, kind, from, lh)
  local h, m, l, pos, t = 0, 0, 0, st.tail, HUGE
  if lh < st.tail then
    local entries = redis.call('LRANGE', sibling(st, 'l'), lh - st.head, -1)
    for q = 1, #entries do
      local e = entries[q]
      local et = unpack('<d', e)
      if et >= from then
        if t == HUGE then pos, t = lh + q - 1, et end
        h, m, l = add3(h, m, l, dec(ssub(e, 9)))
      end
    end
  end
  st.sh[i], st.sm[i], st.sl[i], st.kd[i] = h, m, l, kind
  return pos, t
end

-- Drops the holds and spends that time has taken out of the ledger, and maps each limit the call
-- names to its running total (st.map), creating it from the log the first time a window is named
-- and restarting a calendar total whose period has passed.
local function prepare(st)
  local t = st.t
  if st.e <= t then
    local xk = sibling(st, 'x')
    local members = redis.call('ZRANGEBYSCORE', xk, '-inf', t)
    local rh, rm, rl = st.rh, st.rm, st.rl
    for j = 1, #members do rh, rm, rl = sub3(rh, rm, rl, dec(smatch(members[j], '^%d+'))) end
    st.rh, st.rm, st.rl = rh, rm, rl
    redis.call('ZREMRANGEBYSCORE', xk, '-inf', t)
    st.e = first_score(xk)
    st.dirty = true
  end
  local n, kd, b, c = st.n, st.kd, st.b, st.c
  -- lh: the first position of the log that some rolling total still counts.
  local lh = st.tail
  for i = 1, n do
    if kd[i] == ROLLING then
      local horizon = t - st.a[i]
      if c[i] < horizon then expire(st, i, horizon) end
      if b[i] < lh then lh = b[i] end
    end
  end
  local id, lid, lk, map = st.id, st.lid, st.lk, st.map
  for j = 1, st.nl do
    local w = lid[j]
    local kind = KIND[lk[j]]
    local found = nil
    for i = 1, n do
      if id[i] == w then
        found = i
        break
      end
    end
    if not found then
      n = n + 1
      found, id[n] = n, w
      if kind == ROLLING then
        st.a[n] = st.lsec[j]
        b[n], c[n] = seed(st, n, kind, t - st.a[n], lh)
      elseif kind == CALENDAR then
        st.a[n], b[n], c[n] = st.lps[j], st.lpe[j], 0
        seed(st, n, kind, st.a[n], lh)
      else
        st.a[n], b[n], c[n] = 0, 0, 0
        seed(st, n, kind, -HUGE, lh)
      end
      st.dirty, st.grew = true, true
    elseif kd[found] ~= kind then
      error('corrupt budgetgate state at ' .. st.tk .. ': window ' .. w .. ' of another kind')
    elseif kind == CALENDAR and (st.a[found] ~= st.lps[j] or b[found] ~= st.lpe[j]) then
      st.a[found], b[found] = st.lps[j], st.lpe[j]
      seed(st, found, kind, st.a[found], lh)
      st.dirty, st.grew = true, true
    end
    map[j] = found
  end
  st.n = n
  -- The log keeps what the longest rolling window still counts; with no rolling total, nothing.
  lh = st.tail
  for i = 1, n do
    if kd[i] == ROLLING and b[i] < lh then lh = b[i] end
  end
  local head = st.head
  if lh > head then
    if lh == st.tail then
      redis.call('DEL', sibling(st, 'l'))
      st.head = lh
      st.dirty = true
    elseif lh - head >= TRIM_SLACK then
      redis.call('LTRIM', sibling(st, 'l'), lh - head, -1)
      st.head = lh
      st.dirty = true
    end
  end
end

-- A time in an answer: whole microseconds as an integer when that is exact, else its digits after
-- a "t" (which no client takes for a number); none as nil.
local function emit_time(x)
  rn = rn + 1
  if x == -HUGE then
    reply[rn] = false
    return
  end
  local m = x * 1000000
  if m == math.floor(m) and m / 1000000 == x and m < 9e15 and m > -9e15 then
    reply[rn] = m
  else
    reply[rn] = 't' .. fmt('%.17g', x)
  end
end

-- Answers the line's state: committed per limit of the call, then reserved, then the newest time.
local function emit_line(st)
  local map, sh, sm, sl = st.map, st.sh, st.sm, st.sl
  for j = 1, st.nl do
    local i = map[j]
    emit(sh[i], sm[i], sl[i])
  end
  emit(st.rh, st.rm, st.rl)
  emit_time(st.z)
end

-- Whether amount (limbs) fits every enforced limit of the line: committed + reserved + amount <= max.
local function fits_line(st, ah, am, al)
  local map, lk, lmax = st.map, st.lk, st.lmax
  local hh, hm, hl = add3(st.rh, st.rm, st.rl, ah, am, al)
  for j = 1, st.nl do
    if ENFORCED[lk[j]] then
      local i = map[j]
      local sh, sm, sl = add3(st.sh[i], st.sm[i], st.sl[i], hh, hm, hl)
      if not le3(sh, sm, sl, dec(lmax[j])) then return false end
    end
  end
  return true
end

-- Records a spend (a decimal string) at the ledger's time: appended to the log if the ledger keeps
-- a rolling total, and added to every total it keeps but a calendar total whose period has ended.
local function spend(st, amount)
  if amount == '0' then return end
  local t, tail = st.t, st.tail
  local ah, am, al = dec(amount)
  local kd, sh, sm, sl, b = st.kd, st.sh, st.sm, st.sl, st.b
  local rolling = false
  for i = 1, st.n do
    local kind = kd[i]
    if kind == ROLLING then
      rolling = true
      -- An empty window starts at the new spend.
      if b[i] == tail then st.c[i] = t end
      sh[i], sm[i], sl[i] = add3(sh[i], sm[i], sl[i], ah, am, al)
    elseif kind == LIFETIME or t < b[i] then
      sh[i], sm[i], sl[i] = add3(sh[i], sm[i], sl[i], ah, am, al)
    end
  end
  if rolling then
    if st.head == tail then st.new_l = true end
    redis.call('RPUSH', sibling(st, 'l'), time_bytes(t) .. amount)
    st.tail = tail + 1
  end
  st.z = t
  st.dirty, st.wrote = true, true
end

-- Takes back a spend of amount made by a batch that ran at server µs batch_us, at time or later,
-- unless the ledger was cleared since (its state is younger). The spend is the log's first entry
-- of that amount at or after time, which holds the same as the one recorded (an earlier one at
-- the same time is equal to it): its amount becomes 0, and it leaves every total that counts it.
-- Without it (no log, or it left every rolling window) time stands for its time.
local function refund(st, amount, time, batch_us)
  if amount == '0' or st.g > batch_us then return end
  local found, t = nil, time
  local length = st.tail - st.head
  if length > 0 then
    local lk = sibling(st, 'l')
    local back, stop = 0, false
    while not stop and back < length do
      local from = back + 64
      if from > length then from = length end
      local chunk = redis.call('LRANGE', lk, -from, -(back + 1))
      for q = #chunk, 1, -1 do
        local e = chunk[q]
        local et = unpack('<d', e)
        if et < time then
          stop = true
          break
        end
        if ssub(e, 9) == amount then found, t = st.tail - from + q - 1, et end
      end
      back = from
    end
    if found then redis.call('LSET', lk, found - st.head, pack('<d', t) .. '0') end
  end
  local ah, am, al = dec(amount)
  local kd, sh, sm, sl, a, b = st.kd, st.sh, st.sm, st.sl, st.a, st.b
  for i = 1, st.n do
    local kind = kd[i]
    if kind == LIFETIME or (kind == ROLLING and found and b[i] <= found)
      or (kind == CALENDAR and a[i] <= t and t < b[i]) then
      sh[i], sm[i], sl[i] = sub3(sh[i], sm[i], sl[i], ah, am, al)
    end
  end
  st.dirty, st.wrote = true, true
end

-- Writes the state back. After a write, keeps the ledger's keys alive while anything in them can
-- count: the longest rolling window, the end of the latest calendar period, the hold TTL; forever
-- once it keeps a lifetime total. keep-until only grows, with some slack so that most writes need
-- not move it. A calendar total whose period has ended is left out (it would restart anyway).
local function close(st, hold_ttl)
  if not st.dirty then return end
  -- Nothing was recorded on a ledger that had no state: nothing to keep (a read, say).
  if st.size == 0 and not st.wrote then return end
  local t = st.t
  local kd, a, b = st.kd, st.a, st.b
  local keep = true -- keep the keys' expiry as it is
  if st.k ~= HUGE and (st.wrote or st.grew) then
    local life, forever = hold_ttl or 0, false
    for i = 1, st.n do
      local kind = kd[i]
      if kind == LIFETIME then
        forever = true
        break
      elseif kind == ROLLING then
        if a[i] > life then life = a[i] end
      elseif t < b[i] and b[i] - t > life then
        life = b[i] - t
      end
    end
    if forever then
      st.k, keep = HUGE, false
    else
      life = math.ceil(life * 1000) + 1000
      if st.k < ms + life then
        local slack = math.floor(life / 8)
        if slack > 60000 then slack = 60000 end
        st.k, keep = ms + life + slack, false
      end
    end
  end
  local parts, m = st.parts, 1
  local id, sh, sm, sl, c = st.id, st.sh, st.sm, st.sl, st.c
  for i = 1, st.n do
    local kind = kd[i]
    if kind ~= CALENDAR or t < b[i] then
      m = m + 1
      parts[m] = pack(TOTAL, id[i], kind, sh[i], sm[i], sl[i], a[i], b[i], c[i])
    end
  end
  if st.e == HUGE and st.rl == 0 and st.rm == 0 and st.rh == 0 then
    parts[1] = pack(HEAD, m - 1, st.g, st.k, st.z, st.head, st.tail)
  else
    parts[1] = pack(FULL, -m, st.g, st.k, st.z, st.head, st.tail, st.rh, st.rm, st.rl, st.e)
  end
  local v
  if m == 2 then v = parts[1] .. parts[2] else v = table.concat(parts, '', 1, m) end
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
      if st.wrote_x then redis.call('PEXPIREAT', sibling(st, 'x'), st.k) end
    end
  elseif st.k == HUGE then
    redis.call('SET', st.tk, v)
    redis.call('PERSIST', sibling(st, 'l'))
    redis.call('PERSIST', sibling(st, 'x'))
  else
    redis.call('SET', st.tk, v, 'PXAT', st.k)
    redis.call('PEXPIREAT', sibling(st, 'l'), st.k)
    redis.call('PEXPIREAT', sibling(st, 'x'), st.k)
  end
end

`;
