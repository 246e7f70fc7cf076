/** The operations that neither decide nor hold: read a ledger, clear it, undo an earlier batch. */

/** spent (code q). */
export const SPENT_OPERATION = `-- spent. Keys: the state key. Fields: window. Status 1; value: the total.
OPS.q = function(k, nk, text, pos, now)
  local st = open(k + 1, now, window_of(unpack('s', text, pos)), 1)
  close(st, nil, nil)
  emit(add3(st.ch, st.cm, st.cl, st.rh, st.rm, st.rl))
  return 1
end

`;

/** clear (code d). */
export const CLEAR_OPERATION = `-- clear. Keys: the state key. Status 1.
OPS.d = function(k)
  local st = { tk = KEYS[k + 1], base = false }
  redis.call('DEL', st.tk, sibling(st, 'l'), sibling(st, 's'), sibling(st, 'x'))
  return 1
end

`;

/** undo (code u): reverses the charges and holds of an earlier batch, from its receipt. */
export const UNDO_OPERATION = `-- undo: reverses the charges and holds of an earlier batch that took effect although their caller
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

`;
