/**
 * A ledger's state in Lua: read it (open), read a line's limits and pick each calendar period by
 * the ledger's time (limits_of), drop what has expired and find or create the running total of
 * every window the call names (prepare), answer it (emit_line), record a spend (spend), take one
 * back (refund) and write the state back with its keys' lifetime (close). The layout of the values
 * is described in scripts.ts.
 */

/** Totals whose values are read and written in one struct call, unrolled (more take a loop). */
const UNROLLED = 4;

function totalValues(n: number): string {
  return Array.from(
    { length: n },
    (_, i) => `sh[${i + 1}], sm[${i + 1}], sl[${i + 1}], a[${i + 1}], b[${i + 1}], c[${i + 1}]`,
  ).join(", ");
}

/**
 * read_state and write_state: a whole state in one struct call each way for up to four totals (so
 * that writing it makes one string, not one per part: every string made costs Lua its allocation
 * and, later, the collector's work). The layout: the number of totals (negative, −n − 1, when the
 * holds part follows), g, k, z, head, tail, the directory's length and the directory (c0), the
 * holds part (reserved's three limbs, e) if any, then six values per total: committed's three
 * limbs, then a, b, c (a rolling window's seconds, position and the time there; a calendar
 * period's start and end).
 */
const STATE_CODEC = (() => {
  const head = "ddddddc0"; // g k z head tail idlen block, after the count
  const holds = "dddd";
  const fields = "st.g, st.k, st.z, st.head, st.tail";
  const holdFields = "st.rh, st.rm, st.rl, st.e";
  let formats = "";
  let read = "";
  let write = "";
  for (let n = 0; n <= UNROLLED; n++) {
    const totals = "dddddd".repeat(n);
    formats += `local S${n}, H${n}, PS${n}, PH${n} = '<${head}${totals}', '<${head}${holds}${totals}', '<d${head}${totals}', '<d${head}${holds}${totals}'\n`;
    const values = n === 0 ? "" : `, ${totalValues(n)}`;
    const test = n === 0 ? "if" : "elseif";
    read += `  ${test} n == ${n} then\n    if holds then\n      ${fields}, block, ${holdFields}${values}, pos = unpack(H${n}, v, 9)\n    else\n      ${fields}, block${values}, pos = unpack(S${n}, v, 9)\n    end\n`;
    write += `  ${test} n == ${n} then\n    if holds then\n      return pack(PH${n}, -n - 1, ${fields}, #block, block, ${holdFields}${values})\n    end\n    return pack(PS${n}, n, ${fields}, #block, block${values})\n`;
  }
  return `${formats}local T1 = '<dddddd'
local function read_state(st, v)
  local n = unpack('<d', v)
  local holds = n < 0
  if holds then n = -n - 1 end
  local sh, sm, sl, a, b, c = st.sh, st.sm, st.sl, st.a, st.b, st.c
  local block, pos
${read}  else
    if holds then
      ${fields}, block, ${holdFields}, pos = unpack(H0, v, 9)
    else
      ${fields}, block, pos = unpack(S0, v, 9)
    end
    for i = 1, n do sh[i], sm[i], sl[i], a[i], b[i], c[i], pos = unpack(T1, v, pos) end
  end
  if not holds then st.rh, st.rm, st.rl, st.e = 0, 0, 0, HUGE end
  return n, block, pos
end
local function write_state(st, n, block, holds)
  local sh, sm, sl, a, b, c = st.sh, st.sm, st.sl, st.a, st.b, st.c
${write}  end
  local parts = {}
  if holds then
    parts[1] = pack(PH0, -n - 1, ${fields}, #block, block, ${holdFields})
  else
    parts[1] = pack(PS0, n, ${fields}, #block, block)
  end
  for i = 1, n do parts[i + 1] = pack(T1, sh[i], sm[i], sl[i], a[i], b[i], c[i]) end
  return table.concat(parts)
end
`;
})();

/** The state table pool and open, limits_of, prepare, emit_line, spend, refund and close. */
export const LEDGER_STATE =
  `
local ROLLING, CALENDAR, LIFETIME = 1, 2, 3
-- Limit codes: the kind, in capitals for a shadow limit (recorded, never blocking).
local KIND = { r = ROLLING, R = ROLLING, c = CALENDAR, C = CALENDAR, l = LIFETIME, L = LIFETIME }
local ENFORCED = { r = true, c = true, l = true }
local KIND_LETTER = { 'r', 'c', 'l' }
-- Entries before every rolling window's start are dropped from the log this many at a time: one
-- LTRIM per 32 spends rather than one per spend.
local TRIM_SLACK = 32
-- One state table per line, reused by every operation: operations run one after another, and a
-- table made per call would cost more to make and to collect than the work it holds.
local POOL = {}

-- The window directory of a state (each total's kind letter and window id, ended by a zero byte),
-- parsed once per distinct text (see CACHE_LIMIT): ledgers under one budget share it. Read only.
local DIRS, DIRN = {}, 0
local function dir_of(text)
  local d = DIRS[text]
  if d then return d end
  if DIRN >= CACHE_LIMIT then DIRS, DIRN = {}, 0 end
  DIRN = DIRN + 1
  d = { id = {}, kd = {}, n = 0, maps = {} }
  for entry in gmatch(text, '([^%z]*)%z') do
    local kind = KIND[ssub(entry, 1, 1)]
    if not kind then error('bad directory') end
    d.n = d.n + 1
    d.id[d.n], d.kd[d.n] = ssub(entry, 2), kind
  end
  DIRS[text] = d
  return d
end

` +
  STATE_CODEC +
  `
local function parse_state(st, v)
  local n, block, pos = read_state(st, v)
  local d = dir_of(block)
  if d.n ~= n then error('directory of another size') end
  st.id, st.kd, st.owned, st.block, st.dir = d.id, d.kd, false, block, d
  if pos ~= #v + 1 then error('trailing bytes') end
  st.n = n
end

-- Makes the state's directory its own, to change it (the parsed one is shared).
local function own(st)
  if not st.owned then
    local id, kd, from_id, from_kd = st.my_id, st.my_kd, st.id, st.kd
    for i = 1, st.n do id[i], kd[i] = from_id[i], from_kd[i] end
    st.id, st.kd, st.owned = id, kd, true
  end
  st.block = false
end

-- Reads the ledger of state key KEYS[ki] into the slot-th state table. Writes nothing: every
-- line of a call is opened, and its calendar periods checked, before anything changes.
local function open(ki, now, slot)
  local tk = KEYS[ki]
  local st = POOL[slot]
  if not st then
    st = { my_id = {}, my_kd = {}, sh = {}, sm = {}, sl = {}, a = {}, b = {}, c = {}, map = {}, lps = {}, lpe = {} }
    POOL[slot] = st
  end
  st.tk, st.dirty, st.wrote, st.grew, st.new_l, st.wrote_x, st.nl, st.reading =
    tk, false, false, false, false, false, 0, false
  local v = redis.call('GET', tk)
  if v then
    if not pcall(parse_state, st, v) then error('corrupt budgetgate state at ' .. tk) end
    st.size = #v
  else
    st.n, st.g, st.k, st.z, st.head, st.tail, st.rh, st.rm, st.rl, st.e, st.size =
      0, us, 0, -HUGE, 0, 0, 0, 0, 0, HUGE, 0
    st.id, st.kd, st.owned, st.block = st.my_id, st.my_kd, true, ''
  end
  -- Time for a ledger never runs backward, so its log stays in time order whatever the clocks do.
  local z = st.z
  if now < z then st.t = z else st.t = now end
  return st
end

-- The limits of a line, parsed once per distinct text (see CACHE_LIMIT; the lines of one budget
-- share it). Read only. The text (an argument of its own, which the operations of a batch share):
-- count, then per limit its code, window id, max, and its seconds (rolling), number of boundaries
-- then the boundaries (calendar), or an empty field (lifetime).
local SPECS, SPECN = {}, 0
local function spec_of(text)
  local s = SPECS[text]
  if s then return s end
  -- A directory keeps its limit maps by spec (see prepare): both go, so that neither grows.
  if SPECN >= CACHE_LIMIT then SPECS, SPECN, DIRS, DIRN = {}, 0, {}, 0 end
  SPECN = SPECN + 1
  -- cal: the calendar limits' indexes, the only ones that limits_of and a mapped prepare visit.
  s = { kind = {}, enforced = {}, id = {}, mh = {}, mm = {}, ml = {}, sec = {}, bounds = {}, cal = {}, ncal = 0 }
  local count, p = unpack('s', text)
  count = tonum(count)
  for j = 1, count do
    local code, id, max, x
    code, id, max, x, p = unpack('ssss', text, p)
    local kind = KIND[code]
    if not kind then error('unknown limit code ' .. code) end
    s.kind[j], s.enforced[j], s.id[j] = kind, ENFORCED[code], id
    s.mh[j], s.mm[j], s.ml[j] = dec(max)
    if kind == ROLLING then
      s.sec[j] = tonum(x)
    elseif kind == CALENDAR then
      local bounds = {}
      for q = 1, tonum(x) do
        local b
        b, p = unpack('s', text, p)
        bounds[q] = tonum(b)
      end
      s.bounds[j] = bounds
      s.ncal = s.ncal + 1
      s.cal[s.ncal] = j
    end
  end
  s.n = count
  SPECS[text] = s
  return s
end

-- Reads the limits of line 'line' into st, from the argument that text names at pos, and picks
-- each calendar period by the ledger's time, by currentPeriod's rule (store/period.ts): of the
-- ascending boundaries, the period [b[i], b[i + 1]) that holds it. A time outside them raises the
-- period error, before anything is written. Returns the position after the name.
local function limits_of(st, text, pos, line)
  local at
  at, pos = unpack('s', text, pos)
  at = num(at)
  if not at or at < 3 or at > LIMITS_END then error('no limits text at argument ' .. tostring(at)) end
  local spec = spec_of(ARGV[at])
  st.spec, st.nl = spec, spec.n
  local t, cal, all = st.t, spec.cal, spec.bounds
  for c = 1, spec.ncal do
    local j = cal[c]
    local bounds = all[j]
    local start = nil
    for q = #bounds - 1, 1, -1 do
      if bounds[q] <= t then
        if t < bounds[q + 1] then start = q end
        break
      end
    end
    if not start then error({ period = true, line = line, limit = j, t = t }) end
    st.lps[j], st.lpe[j] = bounds[start], bounds[start + 1]
  end
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
local function seed(st, i, from, lh)
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
  st.sh[i], st.sm[i], st.sl[i] = h, m, l
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
  local n, b, c = st.n, st.b, st.c
  local kd, sh, sm, sl = st.kd, st.sh, st.sm, st.sl
  local drop = false
  for i = 1, n do
    local kind = kd[i]
    if kind == ROLLING then
      local horizon = t - st.a[i]
      if c[i] < horizon then expire(st, i, horizon) end
    elseif kind == CALENDAR and t >= b[i] then
      drop = true
    end
    if sl[i] == 0 and sm[i] == 0 and sh[i] == 0 then drop = true end
  end
  -- A total that counts nothing (a sum of 0, a calendar period that has ended) goes at every touch,
  -- made again from the log when next named: so a ledger forgotten while idle (its keys' expiry)
  -- answers as if it had been kept, on every store.
  if drop then
    own(st)
    kd = st.kd
    local id, a, m = st.id, st.a, 0
    for q = 1, n do
      if (sl[q] ~= 0 or sm[q] ~= 0 or sh[q] ~= 0) and (kd[q] ~= CALENDAR or t < b[q]) then
        m = m + 1
        if m ~= q then
          id[m], kd[m], sh[m], sm[m], sl[m], a[m], b[m], c[m] = id[q], kd[q], sh[q], sm[q], sl[q], a[q], b[q], c[q]
        end
      end
    end
    n = m
    st.n = n
    st.dirty = true
  end
  -- lh: the first position of the log that some rolling total still counts. A total made below is
  -- seeded from there, and counts nothing before it, so the log can be trimmed to it.
  local lh = st.tail
  for i = 1, n do
    if kd[i] == ROLLING and b[i] < lh then lh = b[i] end
  end
  local spec = st.spec
  -- Which total each limit counts in: the same for every ledger of one directory and one budget.
  local map = (not st.owned) and st.nl > 0 and st.dir.maps[spec]
  if map then
    local cal, lps, lpe, a = spec.cal, st.lps, st.lpe, st.a
    for q = 1, spec.ncal do
      local j = cal[q]
      local i = map[j]
      if a[i] ~= lps[j] or b[i] ~= lpe[j] then
        a[i], b[i] = lps[j], lpe[j]
        seed(st, i, a[i], lh)
        st.dirty, st.grew = true, true
      end
    end
  else
    map = st.map
    for j = 1, st.nl do
      local w, kind = spec.id[j], spec.kind[j]
      local id = st.id
      local found = nil
      for i = 1, n do
        if id[i] == w then
          found = i
          break
        end
      end
      if not found then
        own(st)
        n = n + 1
        found = n
        st.id[n], st.kd[n] = w, kind
        if kind == ROLLING then
          st.a[n] = spec.sec[j]
          b[n], c[n] = seed(st, n, t - st.a[n], lh)
        elseif kind == CALENDAR then
          st.a[n], b[n], c[n] = st.lps[j], st.lpe[j], 0
          seed(st, n, st.a[n], lh)
        else
          st.a[n], b[n], c[n] = 0, 0, 0
          seed(st, n, -HUGE, lh)
        end
        st.n = n
        st.dirty, st.grew = true, true
      elseif st.kd[found] ~= kind then
        error('corrupt budgetgate state at ' .. st.tk .. ': window ' .. w .. ' of another kind')
      elseif kind == CALENDAR and (st.a[found] ~= st.lps[j] or b[found] ~= st.lpe[j]) then
        st.a[found], b[found] = st.lps[j], st.lpe[j]
        seed(st, found, st.a[found], lh)
        st.dirty, st.grew = true, true
      end
      map[j] = found
    end
    if not st.owned and st.nl > 0 then
      local copy = {}
      for j = 1, st.nl do copy[j] = map[j] end
      st.dir.maps[spec] = copy
    end
  end
  st.mapped = map
  st.n = n
  -- The log keeps what the longest rolling window still counts; with no rolling total, nothing.
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
-- Given an amount (limbs), also tells whether it fits every enforced limit of the line (committed
-- + reserved + amount <= max): in the same pass, since both read each limit's total.
local function emit_line(st, ah, am, al)
  local map, sh, sm, sl = st.mapped, st.sh, st.sm, st.sl
  local out, n = reply, rn
  local fits, enforced, mh, mm, ml, hh, hm, hl = true, false
  if ah then
    local spec = st.spec
    enforced, mh, mm, ml = spec.enforced, spec.mh, spec.mm, spec.ml
    hh, hm, hl = add3(st.rh, st.rm, st.rl, ah, am, al)
  end
  for j = 1, st.nl do
    local i = map[j]
    local h, m, l = sh[i], sm[i], sl[i]
    n = n + 1
    -- amount_out, inline for the small amounts nearly every total is: this runs per limit of every call.
    if h == 0 and m == 0 then out[n] = l else out[n] = amount_out(h, m, l) end
    if fits and enforced and enforced[j] then
      -- committed + held, limb by limb (inline, as above), against max.
      h, m, l = h + hh, m + hm, l + hl
      if l >= BASE then l, m = l - BASE, m + 1 end
      if m >= BASE then m, h = m - BASE, h + 1 end
      local xh = mh[j]
      if h > xh then
        fits = false
      elseif h == xh then
        local xm = mm[j]
        if m > xm or (m == xm and l > ml[j]) then fits = false end
      end
    end
  end
  rn = n
  emit_amount(st.rh, st.rm, st.rl)
  emit_time(st.z)
  return fits
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
    end
    if kind ~= CALENDAR or t < b[i] then
      -- add3, inline: this runs per total of every spend.
      local h, m, l = sh[i] + ah, sm[i] + am, sl[i] + al
      if l >= BASE then l, m = l - BASE, m + 1 end
      if m >= BASE then m, h = m - BASE, h + 1 end
      if h >= BASE then error('budgetgate total of more than 45 digits') end
      sh[i], sm[i], sl[i] = h, m, l
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
-- not move it. prepare has dropped every total that counts nothing.
local function close(st, hold_ttl)
  if not st.dirty then return end
  -- A read of a ledger that has no state makes none.
  if st.size == 0 and st.reading then return end
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
  local n = st.n
  local block = st.block
  if not block then
    local parts, id = {}, st.id
    for i = 1, n do parts[i] = KIND_LETTER[kd[i]] .. id[i] .. '\\0' end
    block = table.concat(parts)
  end
  local v = write_state(st, n, block, not (st.e == HUGE and st.rl == 0 and st.rm == 0 and st.rh == 0))
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
