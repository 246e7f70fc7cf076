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
export const RESERVE_OPERATION = `-- reserve. Keys: a state key per line, then the hold's. Fields: amount, id, ttl, retain, then max
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

`;

/** commit or release (code s). */
export const SETTLE_OPERATION = `-- commit or release. Keys: a state key per line, then the hold's. Fields: id, actual (empty for a
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

`;
