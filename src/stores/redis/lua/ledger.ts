/**
 * A ledger's state in Lua: read and expire it (open), record a spend or a straggler, take one back
 * (refund) and write it back with its keys' lifetime (close). The layout of the values is described
 * in scripts.ts.
 */

/** The state table pool and open, straggle, spend, refund and close. */
export const LEDGER_STATE = `
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

`;
