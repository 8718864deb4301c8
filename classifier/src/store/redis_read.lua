-- mailsift: read one message's evidence in one call.
-- KEYS: [the store's metadata,] then per model (the site-wide one [, the user's]): totals,
--       counts, the schema-2 spam and ham hashes (gone once migrated), the token learner's
--       key (E25)
-- ARGV: two flags, '1' or '0' each: whether KEYS[1] is the metadata, whether to read the
--       token learner; then the message's token fields (8-byte big-endian hashes)
-- Returns [the schema and tokenizer version,] then per model its totals (spam, ham), one
-- packed count (spam * 2^26 + ham) per field, nil when absent, and with the learner its slot
-- per field and its bias (nil when absent).
local SHIFT = 67108864
-- Keys per model (`Keys::read` in redis_io.rs): a new per-model key goes after these.
local PER_MODEL = 5
local out = {}
local k = 1
local with_lr = string.sub(ARGV[1], 2, 2) == '1'
if string.sub(ARGV[1], 1, 1) == '1' then
  local m = redis.call('HMGET', KEYS[1], 'schema', 'tokenizer_version')
  out[1], out[2] = m[1], m[2]
  k = 2
end
local n = #ARGV - 1
-- unpack() is bounded by the Lua stack: fields go to HMGET in slices.
local function hmget(key, f)
  local i = 2
  while i <= n + 1 do
    local j = math.min(i + 3999, n + 1)
    local part = redis.call('HMGET', key, unpack(ARGV, i, j))
    for x = 1, j - i + 1 do
      f(i - 2 + x, part[x])
    end
    i = j + 1
  end
end
while k + PER_MODEL - 1 <= #KEYS do
  local t = redis.call('HMGET', KEYS[k], 'spam', 'ham')
  out[#out + 1] = tonumber(t[1]) or 0
  out[#out + 1] = tonumber(t[2]) or 0
  local base = #out
  hmget(KEYS[k + 1], function(i, v) out[base + i] = v end)
  if redis.call('EXISTS', KEYS[k + 2], KEYS[k + 3]) > 0 then
    -- A migration from schema 2 is under way: add what is not moved yet.
    local add = {}
    hmget(KEYS[k + 2], function(i, v) if v then add[i] = tonumber(v) * SHIFT end end)
    hmget(KEYS[k + 3], function(i, v) if v then add[i] = (add[i] or 0) + tonumber(v) end end)
    for i, v in pairs(add) do
      out[base + i] = (tonumber(out[base + i]) or 0) + v
    end
  end
  if with_lr then
    local at = #out
    hmget(KEYS[k + 4], function(i, v) out[at + i] = v end)
    out[at + n + 1] = redis.call('HGET', KEYS[k + 4], 'bias')
  end
  k = k + PER_MODEL
end
return out
