/**
 * Exact decimal arithmetic for the Lua scripts. Redis Lua numbers are doubles, exact only below
 * 2^53, while totals reach 38 digits and more; so amounts travel and rest as canonical decimal
 * strings of units (no sign, no leading zero, "0" for zero) and are added in limbs of 15 digits,
 * each limb and every sum of two limbs plus a carry staying far below 2^53.
 */
export const ARITHMETIC_LUA = `
local LIMB = 15
local BASE = 1000000000000000
local function limbs(s)
  local out, n, i = {}, 0, #s
  while i > 0 do
    local j = i - LIMB + 1
    if j < 1 then j = 1 end
    n = n + 1
    out[n] = tonumber(string.sub(s, j, i))
    i = j - 1
  end
  return out, n
end
local function unlimbs(l, n)
  while n > 1 and l[n] == 0 do n = n - 1 end
  if n == 1 then return string.format('%.0f', l[1]) end
  local parts = { string.format('%.0f', l[n]) }
  for i = n - 1, 1, -1 do parts[#parts + 1] = string.format('%015.0f', l[i]) end
  return table.concat(parts)
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
  if #a <= LIMB and #b <= LIMB then return string.format('%.0f', tonumber(a) + tonumber(b)) end
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
  if #a <= LIMB then return string.format('%.0f', tonumber(a) - tonumber(b)) end
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
