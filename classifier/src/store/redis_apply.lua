-- mailsift: apply a planned batch of learn/forget operations to one model, atomically, if the
-- ledger is still what the plan was made from (otherwise change nothing and return 0).
-- KEYS: totals, spam, ham, ledger of one model (one hash tag: one cluster slot)
-- ARGV: nchecks, (digest, class '' | 's' | 'h') * nchecks,
--       nputs, (digest, entry) * nputs, ndels, digest * ndels,
--       dspam, dham, then the token deltas in one string: per token 16 bytes, the field
--       (8-byte hash) then the spam and ham changes as 4-byte big-endian numbers offset by 2^31
--       (one argument for the whole batch: parsing many small arguments cost more than the
--       updates)
-- The token counts are read with a few HMGET and written with a few HSET and HDEL over slices
-- of fields, never one command per token: a command called from a script costs about a
-- microsecond of setup, which for a bulk batch was most of the server's time (BENCHMARKS.md,
-- "Redis store").
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
local fields, ds, dh = {}, {}, {}
local nt = 0
for i = 1, #blob - 15, 16 do
  nt = nt + 1
  fields[nt] = string.sub(blob, i, i + 7)
  local s1, s2, s3, s4, h1, h2, h3, h4 = string.byte(blob, i + 8, i + 15)
  ds[nt] = ((s1 * 256 + s2) * 256 + s3) * 256 + s4 - 2147483648
  dh[nt] = ((h1 * 256 + h2) * 256 + h3) * 256 + h4 - 2147483648
end
if nt == 0 then return 1 end
-- The counts before: each field's count in the class it changes (one HMGET per slice), then
-- its count in the other class only where that decides whether the token appears or goes
-- (a count going from zero or to zero): a lookup in a large hash is most of the cost here.
local function counts(key, want)
  local out = {}
  local list, at = {}, {}
  for i = 1, nt do
    if want(i) then
      list[#list + 1] = fields[i]
      at[#at + 1] = i
    end
  end
  for i = 1, #list, SLICE do
    local j = math.min(i + SLICE - 1, #list)
    local part = redis.call('HMGET', key, unpack(list, i, j))
    for k = i, j do
      out[at[k]] = tonumber(part[k - i + 1]) or 0
    end
  end
  return out
end
local old_s = counts(KEYS[2], function(i) return ds[i] ~= 0 end)
local old_h = counts(KEYS[3], function(i) return dh[i] ~= 0 end)
local function edge(old, d)
  if d == 0 then return false end
  return old == 0 or old + d <= 0
end
local other_s = counts(KEYS[2], function(i) return ds[i] == 0 and edge(old_h[i], dh[i]) end)
local other_h = counts(KEYS[3], function(i) return dh[i] == 0 and edge(old_s[i], ds[i]) end)
-- Counts clamp at zero and a count at zero is removed. `distinct` follows the number of tokens
-- with any count. A decrease below zero (a forget of a message whose token was pruned) is
-- taken off the model's pruned sums (see redis_prune.lua), so the counts, the pruned sums and
-- the ledger still add up.
local distinct = 0
local sets_s, dels_s, sets_h, dels_h = {}, {}, {}, {}
local clamped = {}
local function update(i, old, d, sets, dels, class)
  if d == 0 then return old end
  local new = old + d
  if new < 0 then
    clamped[#clamped + 1] = {fields[i], class, -new}
    new = 0
  end
  if new > 0 then
    sets[#sets + 1] = fields[i]
    sets[#sets + 1] = string.format('%d', new)
  elseif old > 0 then
    dels[#dels + 1] = fields[i]
  end
  return new
end
for i = 1, nt do
  local s0 = old_s[i] or other_s[i]
  local h0 = old_h[i] or other_h[i]
  local s1 = update(i, s0 or 0, ds[i], sets_s, dels_s, 's')
  local h1 = update(i, h0 or 0, dh[i], sets_h, dels_h, 'h')
  -- A count not read (nil) did not change and is not zero-crossing-relevant: the token has
  -- a count in the class that changed both before and after.
  if s0 ~= nil and h0 ~= nil then
    local before = s0 > 0 or h0 > 0
    local after = s1 > 0 or h1 > 0
    if after and not before then distinct = distinct + 1 end
    if before and not after then distinct = distinct - 1 end
  end
end
sliced('HSET', KEYS[2], sets_s)
sliced('HDEL', KEYS[2], dels_s)
sliced('HSET', KEYS[3], sets_h)
sliced('HDEL', KEYS[3], dels_h)
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
return 1
