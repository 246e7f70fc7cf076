/** The charge logic: whether an amount fits every line, and the charge operation built on it. */

/**
 * decide: opens every line of an operation (reading its limits, checking its calendar periods),
 * then prepares each, answers its state and tells whether the amount fits them all (also used by
 * reserve).
 */
export const DECIDE = `-- Opens lines 1..lines (state keys KEYS[k + i]) with their limits from text at pos, and decides
-- whether amount fits them all. Every line is opened, and its periods checked, before any write.
-- Emits each line's state before the call; returns whether the amount fits.
local function decide(k, lines, text, pos, now, amount)
  for i = 1, lines do pos = limits_of(open(k + i, now, i), text, pos, i) end
  local ah, am, al = dec(amount)
  local fits = true
  for i = 1, lines do
    local st = POOL[i]
    prepare(st)
    if not emit_line(st, ah, am, al) then fits = false end
  end
  return fits
end

`;

/** The operation table, and charge (code c). */
export const CHARGE_OPERATION = `-- Each operation gets the index before its first key, its number of keys, its text and the
-- position of its own fields in it, and the time; it emits its values and returns its status.
local OPS = {}

-- charge. Keys: a state key per line. Fields: amount, then the limits of each line.
-- Status: 1 allowed or 0 blocked. Values: each line's state before it.
OPS.c = function(k, nk, text, pos, now)
  local amount
  amount, pos = unpack('s', text, pos)
  local fits = decide(k, nk, text, pos, now, amount)
  for i = 1, nk do
    local st = POOL[i]
    if fits then spend(st, amount) end
    close(st, nil)
  end
  return fits and 1 or 0
end

`;
