-- mailsift: apply a planned batch of learn/forget operations to one model, atomically, if the
-- ledger is still what the plan was made from (otherwise change nothing and return 0).
-- KEYS: totals, spam, ham, ledger of one model (one hash tag: one cluster slot)
-- ARGV: nchecks, (digest, class '' | 's' | 'h') * nchecks,
--       nputs, (digest, entry) * nputs, ndels, digest * ndels,
--       dspam, dham, then (field, dspam, dham) per token to the end
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
  if d == '0' then return end
  local r = redis.call('HINCRBY', key, field, d)
  local old = r - tonumber(d)
  if r <= 0 then
    redis.call('HDEL', key, field)
    if old > 0 and redis.call('HEXISTS', other, field) == 0 then distinct = distinct - 1 end
  elseif old <= 0 and redis.call('HEXISTS', other, field) == 0 then
    distinct = distinct + 1
  end
end
local function total(field, d)
  if d == '0' then return end
  if redis.call('HINCRBY', KEYS[1], field, d) < 0 then redis.call('HSET', KEYS[1], field, 0) end
end
total('spam', take())
total('ham', take())
while a <= #ARGV do
  local field, ds, dh = take(), take(), take()
  bump(KEYS[2], KEYS[3], field, ds)
  bump(KEYS[3], KEYS[2], field, dh)
end
if distinct ~= 0 then total('tokens', distinct) end
return 1
