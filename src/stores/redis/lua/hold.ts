/** The hold logic: taking a hold off a ledger, reserving, and settling (commit or release). */

/** unhold: takes a hold's amount off a ledger if it still counts there. */
export const UNHOLD = `-- Takes hold id (amount) off a ledger if it still counts there.
local function unhold(st, amount, id)
  if redis.call('ZREM', sibling(st, 'x'), amount .. ':' .. id) == 1 then
    st.rh, st.rm, st.rl = sub3(st.rh, st.rm, st.rl, dec(amount))
    st.dirty = true
  end
end

`;

/** reserve (code r). */
export const RESERVE_OPERATION = `-- reserve. Keys: a state key per line, then the hold's. Fields: amount, id, ttl, retain, then the
-- limits of each line. Status and values as for charge. The hold expires ttl after the latest time
-- of its ledgers.
OPS.r = function(k, nk, text, pos, now)
  local amount, id, ttl, retain
  amount, id, ttl, retain, pos = unpack('ssss', text, pos)
  ttl, retain = num(ttl), num(retain)
  local lines = nk - 1
  local fits = decide(k, lines, text, pos, now, amount)
  if fits then
    local t = now
    for i = 1, lines do
      if POOL[i].t > t then t = POOL[i].t end
    end
    local expires = t + ttl
    local member = amount .. ':' .. id
    local ah, am, al = dec(amount)
    for i = 1, lines do
      local st = POOL[i]
      st.rh, st.rm, st.rl = add3(st.rh, st.rm, st.rl, ah, am, al)
      redis.call('ZADD', sibling(st, 'x'), expires, member)
      st.dirty, st.wrote, st.wrote_x = true, true, true
      if expires < st.e then st.e = expires end
    end
    redis.call('SET', KEYS[k + nk], pack('<dd', expires, expires + retain) .. amount,
      'PX', math.ceil((ttl + retain) * 1000) + 1000)
  end
  for i = 1, lines do close(POOL[i], ttl) end
  return fits and 1 or 0
end

`;

/** commit or release (code s). */
export const SETTLE_OPERATION = `-- commit or release. Keys: a state key per line, then the hold's. Fields: id, actual (empty for a
-- release), then for a commit the limits of each line. Status: 1 settled, 2 settled late, 0 not
-- found. Values (a commit that settled): each line's state before it, the hold in it unless late.
OPS.s = function(k, nk, text, pos, now)
  local id, actual
  id, actual, pos = unpack('ss', text, pos)
  local lines, commit = nk - 1, actual ~= ''
  local t = now
  for i = 1, lines do
    local st = open(k + i, now, i)
    if commit then pos = limits_of(st, text, pos, i) end
    if st.t > t then t = st.t end
  end
  local hold_key = KEYS[k + nk]
  local record = redis.call('GET', hold_key)
  local amount, expires, forget
  if record and #record > 16 then
    expires, forget = unpack('<dd', record)
    amount = ssub(record, 17)
  end
  if not amount or t >= forget then
    if record then redis.call('DEL', hold_key) end
    return 0
  end
  for i = 1, lines do
    local st = POOL[i]
    prepare(st)
    if commit then emit_line(st) end
  end
  -- Each ledger drops the hold by its own time: take it off wherever it still counts.
  for i = 1, lines do unhold(POOL[i], amount, id) end
  redis.call('DEL', hold_key)
  if commit then
    for i = 1, lines do spend(POOL[i], actual) end
  end
  for i = 1, lines do close(POOL[i], nil) end
  if expires <= t then return 2 end
  return 1
end

`;
