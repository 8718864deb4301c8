-- mailsift: apply a planned batch of learn/forget operations to one model, atomically, if the
-- ledger is still what the plan was made from (otherwise change nothing and return 0).
-- KEYS: totals, tokens, ledger of one model (one hash tag: one cluster slot)
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
  local v = redis.call('HGET', KEYS[3], digest)
  local have = ''
  if v then have = string.sub(v, 1, 1) end
  if have ~= want then return 0 end
end
n = tonumber(take())
for _ = 1, n do
  local digest, entry = take(), take()
  redis.call('HSET', KEYS[3], digest, entry)
end
n = tonumber(take())
for _ = 1, n do
  redis.call('HDEL', KEYS[3], take())
end
-- Counts clamp at zero; a total at zero and a token at zero in both classes are removed.
local function bump(key, field, d)
  if d == 0 then return end
  local v = math.max((tonumber(redis.call('HGET', key, field)) or 0) + d, 0)
  if v == 0 then redis.call('HDEL', key, field) else redis.call('HSET', key, field, v) end
end
bump(KEYS[1], 'spam', tonumber(take()))
bump(KEYS[1], 'ham', tonumber(take()))
while a <= #ARGV do
  local field, ds, dh = take(), tonumber(take()), tonumber(take())
  local v = redis.call('HGET', KEYS[2], field)
  local s, h = 0, 0
  if v then
    local sp = string.find(v, ' ', 1, true)
    s, h = tonumber(string.sub(v, 1, sp - 1)), tonumber(string.sub(v, sp + 1))
  end
  s, h = math.max(s + ds, 0), math.max(h + dh, 0)
  if s == 0 and h == 0 then
    if v then redis.call('HDEL', KEYS[2], field) end
  else
    redis.call('HSET', KEYS[2], field, string.format('%d %d', s, h))
  end
end
return 1
