/**
 * Exact decimal arithmetic for the Lua scripts. Redis Lua numbers are doubles, exact only below
 * 2^53, while totals reach 38 digits and more; so amounts travel and rest as canonical decimal
 * strings of units (no sign, no leading zero, "0" for zero) and are added in limbs of 15 digits:
 * every limb, and every sum of two limbs plus a carry, stays below 2^53, so each double operation
 * on them is exact integer arithmetic. Numbers of up to 30 digits (10^12 currency units), the
 * usual case, take a path without tables.
 */
export const ARITHMETIC_LUA = `
local LIMB = 15
local BASE = 1000000000000000
local fmt, ssub, tonum = string.format, string.sub, tonumber
local function limbs(s)
  local out, n, i = {}, 0, #s
  while i > 0 do
    local j = i - LIMB + 1
    if j < 1 then j = 1 end
    n = n + 1
    out[n] = tonum(ssub(s, j, i))
    i = j - 1
  end
  return out, n
end
local function unlimbs(l, n)
  while n > 1 and l[n] == 0 do n = n - 1 end
  if n == 1 then return fmt('%d', l[1]) end
  local parts = { fmt('%d', l[n]) }
  for i = n - 1, 1, -1 do parts[#parts + 1] = fmt('%015d', l[i]) end
  return table.concat(parts)
end
-- High and low 15-digit halves of a number of at most 30 digits.
local function halves(s, n)
  if n <= LIMB then return 0, tonum(s) end
  return tonum(ssub(s, 1, n - LIMB)), tonum(ssub(s, n - LIMB + 1))
end
local function join(h, l)
  if h == 0 then return fmt('%d', l) end
  return fmt('%d%015d', h, l)
end
-- a <= b, for canonical digit strings: shorter is smaller, equal lengths compare bytewise.
local function le(a, b)
  local la, lb = #a, #b
  if la ~= lb then return la < lb end
  return a <= b
end
local function add(a, b)
  if b == '0' then return a end
  if a == '0' then return b end
  local la, lb = #a, #b
  if la <= LIMB and lb <= LIMB then return fmt('%d', tonum(a) + tonum(b)) end
  if la <= 2 * LIMB and lb <= 2 * LIMB then
    local ah, al = halves(a, la)
    local bh, bl = halves(b, lb)
    local h, l = ah + bh, al + bl
    if l >= BASE then l = l - BASE; h = h + 1 end
    return join(h, l)
  end
  local x, nx = limbs(a)
  local y, ny = limbs(b)
  if ny > nx then x, nx, y, ny = y, ny, x, nx end
  local carry = 0
  for i = 1, nx do
    local s = x[i] + (y[i] or 0) + carry
    if s >= BASE then x[i] = s - BASE; carry = 1 else x[i] = s; carry = 0 end
  end
  if carry > 0 then nx = nx + 1; x[nx] = carry end
  return unlimbs(x, nx)
end
-- a - b; never below zero (a total cannot go negative; clamping keeps a corrupt key from failing every call).
local function sub(a, b)
  if b == '0' then return a end
  if le(a, b) then return '0' end
  local la = #a
  if la <= LIMB then return fmt('%d', tonum(a) - tonum(b)) end
  if la <= 2 * LIMB then
    local ah, al = halves(a, la)
    local bh, bl = halves(b, #b)
    local h, l = ah - bh, al - bl
    if l < 0 then l = l + BASE; h = h - 1 end
    return join(h, l)
  end
  local x, nx = limbs(a)
  local y = limbs(b)
  local borrow = 0
  for i = 1, nx do
    local s = x[i] - (y[i] or 0) - borrow
    if s < 0 then x[i] = s + BASE; borrow = 1 else x[i] = s; borrow = 0 end
  end
  return unlimbs(x, nx)
end
`;
