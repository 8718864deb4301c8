-- mailsift: apply a planned batch of learn/forget operations to one model, atomically, if the
-- ledger is still what the plan was made from (otherwise change nothing and return 0).
-- KEYS: totals, spam, ham, ledger [, token learner] of one model (one hash tag: one cluster slot)
-- ARGV: nchecks, (digest, class '' | 's' | 'h') * nchecks,
--       nputs, (digest, entry) * nputs, ndels, digest * ndels,
--       dspam, dham, then the token deltas in one string: per token 16 bytes, the field
--       (8-byte hash) then the spam and ham changes as 4-byte big-endian numbers offset by 2^31
--       (one argument for the whole batch: parsing many small arguments cost more than the
--       updates), then with the learner's key its writes in one string: per field, its
--       length (1 byte), the field, the value's length (1 byte; 0 removes the field), the value
local a = 1
local function take()
  local v = ARGV[a]
  a = a + 1
  return v
end
-- unpack() is bounded by the Lua C stack (8000): commands take their arguments in slices.
local SLICE = 3000
local function sliced(cmd, key, list)
  local n = #list
  local i = 1
  while i <= n do
    local j = math.min(i + SLICE - 1, n)
    redis.call(cmd, key, unpack(list, i, j))
    i = j + 1
  end
end
local n = tonumber(take())
if n > 0 then
  local digests, wants = {}, {}
  for i = 1, n do
    digests[i], wants[i] = take(), take()
  end
  for i = 1, n, SLICE do
    local j = math.min(i + SLICE - 1, n)
    local have = redis.call('HMGET', KEYS[4], unpack(digests, i, j))
    for k = i, j do
      local v = have[k - i + 1]
      local c = ''
      if v then c = string.sub(v, 1, 1) end
      if c ~= wants[k] then return 0 end
    end
  end
end
n = tonumber(take())
local puts = {}
for i = 1, 2 * n do
  puts[i] = take()
end
if n > 0 then sliced('HSET', KEYS[4], puts) end
n = tonumber(take())
local dels = {}
for i = 1, n do
  dels[i] = take()
end
if n > 0 then sliced('HDEL', KEYS[4], dels) end
local function total(field, d)
  if d == 0 then return end
  if redis.call('HINCRBY', KEYS[1], field, d) < 0 then redis.call('HSET', KEYS[1], field, 0) end
end
total('spam', tonumber(take()))
total('ham', tonumber(take()))
local blob = take() or ''
-- Counts clamp at zero and a count at zero is removed; `distinct` follows the number of tokens
-- with any count (a token is in the spam hash, the ham hash or both). One HINCRBY per token and
-- class, and an HEXISTS of the other class only when a count appears or goes: a lookup in a
-- hash of many fields is most of the server's time, and reading every count first with HMGET
-- and writing with HSET made more lookups, not fewer (BENCHMARKS.md, "Redis store").
-- A decrease below zero (a forget of a message whose token was pruned) is taken off the
-- model's pruned sums (see redis_prune.lua), so counts, pruned sums and ledger still add up.
local distinct = 0
local clamped = {}
local function bump(key, other, field, d, class)
  if d == 0 then return end
  local r = redis.call('HINCRBY', key, field, d)
  local old = r - d
  if r <= 0 then
    redis.call('HDEL', key, field)
    if r < 0 then clamped[#clamped + 1] = {field, class, -r} end
    if old > 0 and redis.call('HEXISTS', other, field) == 0 then distinct = distinct - 1 end
  elseif old <= 0 and redis.call('HEXISTS', other, field) == 0 then
    distinct = distinct + 1
  end
end
local function num(i)
  local b1, b2, b3, b4 = string.byte(blob, i, i + 3)
  return ((b1 * 256 + b2) * 256 + b3) * 256 + b4 - 2147483648
end
for i = 1, #blob - 15, 16 do
  local field = string.sub(blob, i, i + 7)
  bump(KEYS[2], KEYS[3], field, num(i + 8), 's')
  bump(KEYS[3], KEYS[2], field, num(i + 12), 'h')
end
if distinct ~= 0 then total('tokens', distinct) end
if #clamped > 0 then
  -- Pruned sums per class: occurrences, and the token-hash checksum (the sum of hash x count,
  -- modulo 2^64) in two 32-bit halves, exact in Lua's doubles.
  local p = redis.call('HMGET', KEYS[1], 'pruned_s', 'pruned_s_hi', 'pruned_s_lo',
    'pruned_h', 'pruned_h_hi', 'pruned_h_lo')
  local acc = {}
  for i = 1, 6 do acc[i] = tonumber(p[i]) or 0 end
  local W = 4294967296
  for _, c in ipairs(clamped) do
    local field, class, k = c[1], c[2], c[3]
    local b = 0
    if class == 'h' then b = 3 end
    local x1, x2, x3, x4, y1, y2, y3, y4 = string.byte(field, 1, 8)
    local hi = ((x1 * 256 + x2) * 256 + x3) * 256 + x4
    local lo = ((y1 * 256 + y2) * 256 + y3) * 256 + y4
    acc[b + 1] = acc[b + 1] - k
    local l = acc[b + 3] - lo * k
    local carry = math.floor(l / W)
    acc[b + 3] = l - carry * W
    acc[b + 2] = (acc[b + 2] - hi * k + carry) % W
  end
  redis.call('HSET', KEYS[1], 'pruned_s', acc[1], 'pruned_s_hi', acc[2], 'pruned_s_lo', acc[3],
    'pruned_h', acc[4], 'pruned_h_hi', acc[5], 'pruned_h_lo', acc[6])
end
-- The token learner's slots, bias and message gradients (E25), written by the client's plan.
local lr = take()
if KEYS[5] and lr then
  local i = 1
  while i <= #lr do
    local fl = string.byte(lr, i)
    local field = string.sub(lr, i + 1, i + fl)
    local vl = string.byte(lr, i + fl + 1)
    -- A token's slot goes with its counts, as a SQLite row does.
    local gone = fl == 8 and redis.call('HEXISTS', KEYS[2], field) == 0
      and redis.call('HEXISTS', KEYS[3], field) == 0
    if vl == 0 or gone then
      redis.call('HDEL', KEYS[5], field)
    else
      redis.call('HSET', KEYS[5], field, string.sub(lr, i + fl + 2, i + fl + 1 + vl))
    end
    i = i + fl + 2 + vl
  end
end
return 1
