/**
 * Exact decimal arithmetic for the Lua scripts. Redis Lua numbers are doubles, exact only below
 * 2^53, while totals reach 38 digits and more; so an amount is three limbs of 15 decimal digits,
 * high to low, each held as a Lua number. Every limb, and every sum of two limbs plus a carry, stays
 * below 2^53, so each double operation on them is exact integer arithmetic: nothing is ever
 * rounded. Three limbs hold 45 digits, beyond any total that 38-digit amounts can reach in
 * practice; a sum past that is refused with an error, never wrapped.
 *
 * Amounts arrive as canonical decimal strings of units. Turning a string into a number is the
 * dearest step in Redis Lua (strtod), so `dec` remembers the limbs of the strings it has converted
 * (for one script call, or across calls of the Redis Function up to CACHE_LIMIT of them): the amounts and limits of one batch, and of a busy server, mostly repeat.
 * An answer carries an amount as one value (amount_out): below 10^15, which nearly every amount
 * is, the integer itself, else "u" and its decimal digits; one value rather than three limbs, since
 * each value of a reply costs the server (Lua to RESP) and the client (parsing, joining) alike.
 */
export const ARITHMETIC_LUA = `
local BASE = 1000000000000000
local tonum, ssub = tonumber, string.sub
-- Caches that outlive a call as a Redis Function (this one and those of lua/): each maps a text to
-- what it parses into, the same whatever the data, and is emptied once it holds this many entries,
-- so that it stays small.
local CACHE_LIMIT = 1024
local DH, DM, DL, DN = {}, {}, {}, 0
-- The limbs of a canonical decimal string of at most 45 digits.
local function dec(s)
  local l = DL[s]
  if l then return DH[s], DM[s], l end
  if DN >= CACHE_LIMIT then DH, DM, DL, DN = {}, {}, {}, 0 end
  local n, h, m = #s, 0, 0
  if n <= 15 then
    l = tonum(s)
  elseif n <= 30 then
    m, l = tonum(ssub(s, 1, n - 15)), tonum(ssub(s, n - 14))
  elseif n <= 45 then
    h, m, l = tonum(ssub(s, 1, n - 30)), tonum(ssub(s, n - 29, n - 15)), tonum(ssub(s, n - 14))
  else
    error('budgetgate amount of more than 45 digits: ' .. s)
  end
  if not (h and m and l) then error('budgetgate amount is not a decimal string: ' .. s) end
  DH[s], DM[s], DL[s], DN = h, m, l, DN + 1
  return h, m, l
end
-- a + b, limb by limb with carries.
local function add3(ah, am, al, bh, bm, bl)
  local h, m, l = ah + bh, am + bm, al + bl
  if l >= BASE then l = l - BASE; m = m + 1 end
  if m >= BASE then m = m - BASE; h = h + 1 end
  if h >= BASE then error('budgetgate total of more than 45 digits') end
  return h, m, l
end
-- a <= b.
local function le3(ah, am, al, bh, bm, bl)
  if ah ~= bh then return ah < bh end
  if am ~= bm then return am < bm end
  return al <= bl
end
-- a - b; never below zero (a total cannot go negative; clamping keeps a corrupt key from failing every call).
local function sub3(ah, am, al, bh, bm, bl)
  if le3(ah, am, al, bh, bm, bl) then return 0, 0, 0 end
  local h, m, l = ah - bh, am - bm, al - bl
  if l < 0 then l = l + BASE; m = m - 1 end
  if m < 0 then m = m + BASE; h = h - 1 end
  return h, m, l
end
-- An amount as an answer carries it: the low limb alone when it is all, else its decimal digits
-- after a "u", which no client takes for a number (one that turns digit strings into numbers, as
-- Upstash's does, would round them). string.format's %d takes a C long, which holds a limb.
local function amount_out(h, m, l)
  if h == 0 then
    if m == 0 then return l end
    return string.format('u%d%015d', m, l)
  end
  return string.format('u%d%015d%015d', h, m, l)
end
`;

/**
 * An amount as a script answers it (see amount_out): an integer below 10^15 (a client may hand
 * integers over as strings: an adapter of one's own, say), or "u" and the digits of a larger one;
 * undefined if it is neither.
 */
export function amountOf(value: unknown): bigint | undefined {
  if (typeof value === "number") {
    return Number.isInteger(value) && value >= 0 && value < 1e15 ? BigInt(value) : undefined;
  }
  if (typeof value !== "string") return undefined;
  if (/^\d{1,15}$/.test(value)) return BigInt(value);
  return /^u[1-9]\d{15,44}$/.test(value) ? BigInt(value.slice(1)) : undefined;
}
