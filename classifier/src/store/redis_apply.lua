-- mailsift: apply a planned batch of learn/forget operations to one model, atomically, if the
-- ledger is still what the plan was made from (otherwise change nothing and return 0).
-- KEYS: totals, spam, ham, ledger of one model (one hash tag: one cluster slot)
-- ARGV: nchecks, (digest, class '' | 's' | 'h') * nchecks,
--       nputs, (digest, entry) * nputs, ndels, digest * ndels,
--       dspam, dham, then the token deltas in one string: per token 16 bytes, the field
--       (8-byte hash) then the spam and ham changes as 4-byte big-endian numbers offset by 2^31
--       (one argument for the whole batch: parsing many small arguments cost more than the
--       updates)
local a = 1
local function take()
  local v = ARGV[a]
  a = a + 1
  return v
end
local n = tonumber(take())
for _ = 1, n do
  local digest, want = take(), take()
  local v = redis.call('HGET', KEYS[4], digest)
  local have = ''
  if v then have = string.sub(v, 1, 1) end
  if have ~= want then return 0 end
end
n = tonumber(take())
for _ = 1, n do
  local digest, entry = take(), take()
  redis.call('HSET', KEYS[4], digest, entry)
end
n = tonumber(take())
for _ = 1, n do
  redis.call('HDEL', KEYS[4], take())
end
-- Counts clamp at zero and a count at zero is removed; `distinct` follows the number of tokens
-- with any count (a token is in the spam hash, the ham hash or both).
local distinct = 0
local function bump(key, other, field, d)
  if d == 0 then return end
  local r = redis.call('HINCRBY', key, field, d)
  local old = r - d
  if r <= 0 then
    redis.call('HDEL', key, field)
    if old > 0 and redis.call('HEXISTS', other, field) == 0 then distinct = distinct - 1 end
  elseif old <= 0 and redis.call('HEXISTS', other, field) == 0 then
    distinct = distinct + 1
  end
end
local function total(field, d)
  if d == 0 then return end
  if redis.call('HINCRBY', KEYS[1], field, d) < 0 then redis.call('HSET', KEYS[1], field, 0) end
end
total('spam', tonumber(take()))
total('ham', tonumber(take()))
local blob = take() or ''
local function num(i)
  local b1, b2, b3, b4 = string.byte(blob, i, i + 3)
  return ((b1 * 256 + b2) * 256 + b3) * 256 + b4 - 2147483648
end
for i = 1, #blob - 15, 16 do
  local field = string.sub(blob, i, i + 7)
  bump(KEYS[2], KEYS[3], field, num(i + 8))
  bump(KEYS[3], KEYS[2], field, num(i + 12))
end
if distinct ~= 0 then total('tokens', distinct) end
return 1
