/** The charge logic: whether an amount fits every line, and the charge operation built on it. */

/** decide: opens every line and tells whether the amount fits them all (also used by reserve). */
export const DECIDE = `-- Opens every line and decides whether amount fits all. Line i has max f[2i - 1] and window f[2i].
-- Emits each line's total; returns the states, windows, and whether it fits.
local function decide(k, lines, f, now, amount)
  local states, windows, fits = {}, {}, true
  local ah, am, al = dec(amount)
  for i = 1, lines do
    local window = window_of(f[2 * i])
    local st = open(k + i, now, window, i)
    states[i], windows[i] = st, window
    local th, tm, tl = add3(st.ch, st.cm, st.cl, st.rh, st.rm, st.rl)
    emit(th, tm, tl)
    local sh, sm, sl = add3(th, tm, tl, ah, am, al)
    if not le3(sh, sm, sl, dec(f[2 * i - 1])) then fits = false end
  end
  return states, windows, fits
end

`;

/** The operation table, and charge (code c). */
export const CHARGE_OPERATION = `-- Each operation gets the index before its first key, its number of keys, its text and the
-- position of its own fields in it, and the time; it emits its values and returns its status.
local OPS = {}

-- charge. Keys: a state key per line. Fields: amount, then max and window per line.
-- Status: 1 allowed or 0 blocked. Values: the spend per line before it.
OPS.c = function(k, nk, text, pos, now)
  if nk == 1 then
    -- The common case, without the tables of several lines.
    local amount, max, w = unpack('sss', text, pos)
    local window = window_of(w)
    local st = open(k + 1, now, window, 1)
    local th, tm, tl = add3(st.ch, st.cm, st.cl, st.rh, st.rm, st.rl)
    local sh, sm, sl = add3(th, tm, tl, dec(amount))
    local allowed = le3(sh, sm, sl, dec(max))
    if allowed then spend(st, now, window, amount) end
    close(st, window, nil)
    emit(th, tm, tl)
    return allowed and 1 or 0
  end
  local amount, at = unpack('s', text, pos)
  local states, windows, fits = decide(k, nk, split(text, at), now, amount)
  for i = 1, nk do
    if fits then spend(states[i], now, windows[i], amount) end
    close(states[i], windows[i], nil)
  end
  return fits and 1 or 0
end

`;
