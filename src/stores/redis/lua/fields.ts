/** Small helpers every operation uses: field numbers, packed times, field splitting, sibling keys. */

/** Field numbers converted once, packed times, splitting of variable fields, a ledger's sibling keys and a sorted set's first score. */
export const FIELD_HELPERS = `
-- Small numbers of the fields (windows, counts, TTLs), converted once (see CACHE_LIMIT).
local NUM, NN = {}, 0
local function num(s)
  local v = NUM[s]
  if v == nil then
    v = tonum(s)
    if NN >= CACHE_LIMIT then NUM, NN = {}, 0 end
    NUM[s], NN = v, NN + 1
  end
  return v
end

-- A time packed as the list keeps it; the batch's own time is packed once.
local packed_at, packed = nil, nil
local function time_bytes(x)
  if x ~= packed_at then packed_at, packed = x, pack('<d', x) end
  return packed
end

-- The fields of an operation's text from position pos on, for the operations whose number of
-- fields varies.
local function split(text, pos)
  local f, n = {}, 0
  for x in gmatch(ssub(text, pos), '([^%z]*)%z') do n = n + 1; f[n] = x end
  return f
end

-- Another key of a ledger (kind l or x): its state key with the last letter, its kind, replaced
-- (keys.ts). Made once per key (see CACHE_LIMIT), not per use: making a string costs Redis Lua a
-- hash of its every byte, and every spend of a rolling ledger names its log.
local SIBS, SIBN = { l = {}, x = {} }, 0
local function sibling(st, kind)
  local tk = st.tk
  local known = SIBS[kind]
  local key = known[tk]
  if key then return key end
  if SIBN >= CACHE_LIMIT then
    SIBS, SIBN = { l = {}, x = {} }, 0
    known = SIBS[kind]
  end
  key = ssub(tk, 1, -2) .. kind
  known[tk], SIBN = key, SIBN + 1
  return key
end

local function first_score(key)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then return tonum(first[2]) end
  return HUGE
end
`;
