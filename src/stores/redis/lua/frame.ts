/**
 * How a batch runs: the state every operation shares (the batch's keys, arguments, server time and
 * reply) and the batch function itself (the replay guard, each operation by its code under pcall,
 * then the receipt). See scripts.ts for the whole design.
 */

/** Tells Dragonfly the script names keys it does not declare (the siblings of the state keys). */
export const BATCH_FLAGS = `--!df flags=allow-undeclared-keys
-- (Dragonfly refuses keys a script does not declare unless told; Redis reads this as a comment.)
`;

/**
 * Locals, and the batch's own state: set by each call of batch (see BATCH_FUNCTION), read by the
 * helpers defined between the two, so that as a Redis Function they are defined once, at load.
 */
export const BATCH_STATE = `local unpack, pack, fmt, gmatch, smatch = struct.unpack, struct.pack, string.format, string.gmatch, string.match
local HUGE = math.huge
-- The call's keys and arguments, its receipt lifetime (ms), its reply and the reply's length, and
-- the server time: µs, as a 16-digit string that deadlines (also µs) compare with as strings, in
-- seconds, and in ms.
local KEYS, ARGV, RECEIPT_TTL, reply, rn, us, us_s, server_now, ms
-- The last argument that is a line's limits text (they follow the receipt lifetime and their count).
local LIMITS_END
local function emit_amount(h, m, l)
  rn = rn + 1
  reply[rn] = amount_out(h, m, l)
end
local function micros(sec, usec) return tonum(sec) * 1000000 + tonum(usec) end
`;

/**
 * The batch function: answers from the receipt if the batch ran already, else runs each operation
 * of ARGV by its code under pcall, records its status, and writes the receipt of a batch that
 * changed something.
 */
export const BATCH_FUNCTION = `-- One status character per operation for the receipt: S deadline passed, E error, P period out
-- of range, else the status.
local STATUS_CHARS = { [-3] = 'P', [-1] = 'S', [-2] = 'E', [0] = '0', [1] = '1', [2] = '2' }
local function batch(keys, args)
  KEYS, ARGV, RECEIPT_TTL = keys, args, args[1]
  LIMITS_END = 2 + num(args[2])
  local seen = redis.call('GET', keys[1])
  if seen then return { 'R', seen } end
  local t = redis.call('TIME')
  -- Operations append their values to the reply (see the end).
  reply, rn = { t[1], t[2] }, 2
  us = micros(t[1], t[2])
  us_s = t[1] .. string.rep('0', 6 - #t[2]) .. t[2]
  server_now = us / 1000000
  ms = math.floor(us / 1000)
  local statuses, changed = {}, false
  local k = 1
  for j = LIMITS_END + 1, #args do
    local text = args[j]
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
        rn = at
        if type(out) == 'table' and out.period then
          -- A calendar window whose boundaries do not hold the ledger's time: nothing was written.
          status = -3
          reply[rn + 1], reply[rn + 2] = out.line, out.limit
          rn = rn + 2
          emit_time(out.t)
        else
          rn, status = at + 1, -2
          if type(out) == 'table' and out.err then reply[rn] = out.err else reply[rn] = tostring(out) end
        end
      end
    end
    reply[at] = status
    statuses[j - LIMITS_END] = STATUS_CHARS[status]
    if status >= 0 and (op == 'd' or op == 'u' or (op ~= 'q' and op ~= 'v' and status ~= 0)) then changed = true end
    k = k + nk
  end
  -- A batch that changed nothing needs no receipt: running it again would only decide again.
  if changed then
    redis.call('SET', keys[1], t[1] .. '|' .. t[2] .. '|' .. table.concat(statuses), 'PX', RECEIPT_TTL)
  end
  local out = reply
  -- Not kept past the call: the reply is Redis's now.
  reply, KEYS, ARGV = nil, nil, nil
  return out
end
`;
