-- mailsift: apply a planned batch of learn/forget operations to one model, atomically, if the
-- ledger is still what the plan was made from (otherwise change nothing and return 0).
-- KEYS: totals, counts, ledger of one model, then its schema-2 spam and ham hashes (gone once
--       migrated), then the token learner's key (E25) (one hash tag: one cluster slot)
-- ARGV: nchecks, (digest, class '' | 's' | 'h') * nchecks,
--       nputs, (digest, entry) * nputs, ndels, digest * ndels,
--       dspam, dham, then the token deltas in one string of groups, one group per distinct
--       change: the spam and ham changes as 4-byte big-endian numbers offset by 2^31, the
--       number of tokens (4 bytes), then their fields (8-byte hashes) (one argument for the
--       whole batch: parsing many small arguments cost more than the updates), then
--       optionally the token learner's operations in one string (redis_apply_lr.lua, which
--       is appended to this script and ends it)
local TOTALS, COUNTS, LEDGER, OLD_SPAM, OLD_HAM = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local LR = KEYS[6]
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
-- HMGET of the fields in `list` of `key`, SLICE at a time: each(field, value) in order.
local function sliced_get(key, list, each)
  for i = 1, #list, SLICE do
    local j = math.min(i + SLICE - 1, #list)
    local got = redis.call('HMGET', key, unpack(list, i, j))
    for k = i, j do each(list[k], got[k - i + 1]) end
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
    local have = redis.call('HMGET', LEDGER, unpack(digests, i, j))
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
if n > 0 then sliced('HSET', LEDGER, puts) end
n = tonumber(take())
local dels = {}
for i = 1, n do
  dels[i] = take()
end
if n > 0 then sliced('HDEL', LEDGER, dels) end
local function total(field, d)
  if d == 0 then return end
  if redis.call('HINCRBY', TOTALS, field, d) < 0 then redis.call('HSET', TOTALS, field, 0) end
end
total('spam', tonumber(take()))
total('ham', tonumber(take()))
local blob = take() or ''
-- Schema 3: one field per token, both counts in one integer, spam * 2^26 + ham (exact in Lua's
-- doubles: spam below 2^27, ham below 2^26). One HINCRBY per token whatever its classes, and
-- no lookup in another hash: the distinct-token count is the hash's HLEN. Reading a slice of
-- counts with one HMGET and writing it with one HSET made the server work more, not less
-- (0.87 against 0.70 ms per message, BENCHMARKS.md "Redis store").
-- Counts clamp at zero and a token at zero is removed. What a count could not take (a forget
-- below zero, of a message whose token was pruned; or beyond the maximum) goes to the model's
-- pruned sums (see redis_prune.lua), so counts, pruned sums and ledger still add up.
local SHIFT = 67108864
local SMAX, HMAX = 134217727, 67108863
-- Counts still in the schema-2 hashes (a migration under way) are moved in as they are met.
local legacy = redis.call('EXISTS', OLD_SPAM, OLD_HAM) > 0
-- The numbers are passed as strings: formatting a Lua number for every command was a
-- measurable part of the server's time, and a batch has few distinct deltas.
local memo = {}
local function str(d)
  local s = memo[d]
  if not s then
    s = string.format('%.0f', d)
    memo[d] = s
  end
  return s
end
local excess = {}
-- Fields whose counts were removed here (redis_apply_lr.lua's fast path asks about those).
local gone = {}
local settle
local function bump(field, ds, dh)
  if legacy then
    local s = redis.call('HGET', OLD_SPAM, field)
    local h = redis.call('HGET', OLD_HAM, field)
    if s then ds = ds + tonumber(s) end
    if h then dh = dh + tonumber(h) end
    if s or h then redis.call('HDEL', OLD_SPAM, field); redis.call('HDEL', OLD_HAM, field) end
  end
  if ds == 0 and dh == 0 then return end
  local d = ds * SHIFT + dh
  settle(field, redis.call('HINCRBY', COUNTS, field, str(d)), d, ds, dh)
end
-- After HINCRBY by d = ds * SHIFT + dh left r: clamp both counts and remove a token at zero.
settle = function(field, r, d, ds, dh)
  local old = r - d
  local os = math.floor(old / SHIFT)
  local ns, nh = os + ds, old - os * SHIFT + dh
  if ns >= 0 and nh >= 0 and ns <= SMAX and nh <= HMAX then
    if r == 0 then
      redis.call('HDEL', COUNTS, field)
      gone[field] = true
    end
    return
  end
  local ks = math.min(math.max(ns, 0), SMAX)
  local kh = math.min(math.max(nh, 0), HMAX)
  if ks ~= ns then excess[#excess + 1] = {field, 0, ns - ks} end
  if kh ~= nh then excess[#excess + 1] = {field, 3, nh - kh} end
  if ks == 0 and kh == 0 then
    redis.call('HDEL', COUNTS, field)
    gone[field] = true
  else
    redis.call('HSET', COUNTS, field, str(ks * SHIFT + kh))
  end
end
local function num(i)
  local b1, b2, b3, b4 = string.byte(blob, i, i + 3)
  return ((b1 * 256 + b2) * 256 + b3) * 256 + b4 - 2147483648
end
-- Most groups only add (learning new messages): then one HINCRBY per token and a test of its
-- reply, which tells a count that passed its maximum (the ham part carried into the spam
-- part, or the whole passed 2^53) or a damaged value below zero; only those are settled.
-- Grouping by change spares decoding and formatting a change per token: 23% less server CPU
-- per update than one 16-byte record per token (BENCHMARKS.md "Redis store", bulk training).
local LIMIT = (SMAX + 1) * SHIFT
local call, sub = redis.call, string.sub
local pos, len = 1, #blob
while pos + 11 <= len do
  local ds, dh = num(pos), num(pos + 4)
  local n = num(pos + 8) + 2147483648
  local first, last = pos + 12, math.min(pos + 11 + 8 * n, len)
  pos = last + 1
  if legacy or ds < 0 or dh < 0 then
    for i = first, last - 7, 8 do
      bump(sub(blob, i, i + 7), ds, dh)
    end
  elseif ds ~= 0 or dh ~= 0 then
    local d = ds * SHIFT + dh
    local text = str(d)
    for i = first, last - 7, 8 do
      local field = sub(blob, i, i + 7)
      local r = call('HINCRBY', COUNTS, field, text)
      if r < d or r % SHIFT < dh or r >= LIMIT then settle(field, r, d, ds, dh) end
    end
  end
end
if #excess > 0 then
  -- Pruned sums per class: occurrences, and the token-hash checksum (the sum of hash x count,
  -- modulo 2^64) in two 32-bit halves, exact in Lua's doubles.
  local p = redis.call('HMGET', TOTALS, 'pruned_s', 'pruned_s_hi', 'pruned_s_lo',
    'pruned_h', 'pruned_h_hi', 'pruned_h_lo')
  local acc = {}
  for i = 1, 6 do acc[i] = tonumber(p[i]) or 0 end
  local W = 4294967296
  for _, e in ipairs(excess) do
    local field, b, k = e[1], e[2], e[3]
    local x1, x2, x3, x4, y1, y2, y3, y4 = string.byte(field, 1, 8)
    local hi = ((x1 * 256 + x2) * 256 + x3) * 256 + x4
    local lo = ((y1 * 256 + y2) * 256 + y3) * 256 + y4
    acc[b + 1] = acc[b + 1] + k
    local l = acc[b + 3] + lo * k
    local carry = math.floor(l / W)
    acc[b + 3] = l - carry * W
    acc[b + 2] = (acc[b + 2] + hi * k + carry) % W
  end
  redis.call('HSET', TOTALS, 'pruned_s', acc[1], 'pruned_s_hi', acc[2], 'pruned_s_lo', acc[3],
    'pruned_h', acc[4], 'pruned_h_hi', acc[5], 'pruned_h_lo', acc[6])
end
