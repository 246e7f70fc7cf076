/** The operations that neither decide nor hold: read a ledger, list it for scan, clear it, undo an earlier batch. */

/** read (code q). */
export const READ_OPERATION = `-- read. Keys: the state key. Fields: the line's limits. Status 1; values: the line's state.
OPS.q = function(k, nk, text, pos, now)
  local st = open(k + 1, now, 1)
  st.reading = true
  limits_of(st, text, pos, 1)
  prepare(st)
  emit_line(st)
  close(st, nil)
  return 1
end

`;

/** scan's read of one ledger (code v). */
export const LIST_OPERATION = `-- list, for scan. Keys: the state key. No fields. Status 0 if the ledger has no state (it expired
-- since SCAN saw it), else 1; values: the number of live totals, then per total its window id and
-- committed, then reserved.
OPS.v = function(k, nk, text, pos, now)
  local st = open(k + 1, now, 1)
  if st.size == 0 then return 0 end
  prepare(st)
  local t, kd, b = st.t, st.kd, st.b
  rn = rn + 1
  local at, count = rn, 0
  for i = 1, st.n do
    if kd[i] ~= CALENDAR or t < b[i] then
      count = count + 1
      rn = rn + 1
      reply[rn] = st.id[i]
      emit_amount(st.sh[i], st.sm[i], st.sl[i])
    end
  end
  reply[at] = count
  emit_amount(st.rh, st.rm, st.rl)
  close(st, nil)
  return 1
end

`;

/** clear (code d). */
export const CLEAR_OPERATION = `-- clear. Keys: the state key. Status 1.
OPS.d = function(k)
  local st = { tk = KEYS[k + 1] }
  redis.call('DEL', st.tk, sibling(st, 'l'), sibling(st, 'x'))
  return 1
end

`;

/** undo (code u): reverses the charges and holds of an earlier batch, from its receipt. */
export const UNDO_OPERATION = `-- undo: reverses the charges and holds of an earlier batch that took effect although their caller
-- was told they failed. Keys: the batch's receipt key, then per operation its keys (a state key
-- per line, then the hold's for a reserve). Fields: the number of operations, then per operation
-- its position in the batch, code, number of lines, amount, now (empty for the batch's server
-- time) and hold id (empty for a charge). Status 1.
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
        local st = open(kp + i, now, i)
        prepare(st)
        if code == 'c' then refund(st, amount, time, batch_us) else unhold(st, amount, id) end
        close(st, nil)
      end
      if code == 'r' then redis.call('DEL', KEYS[kp + lines + 1]) end
    end
    kp = kp + lines
    if code == 'r' then kp = kp + 1 end
    fp = fp + 6
  end
  redis.call('SET', receipt_key, 'X', 'KEEPTTL')
  return 1
end

`;
