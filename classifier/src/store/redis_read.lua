-- mailsift: read one message's evidence in one call.
-- KEYS: totals, spam, ham of the site-wide model [, totals, spam, ham of the user's model]
--       [, the token learner's key of each of those models (E25)]
-- ARGV: the message's token fields (8-byte big-endian hashes)
-- Returns the site totals (spam, ham), the user totals (spam, ham), then per model and class
-- (site spam, site ham [, user spam, user ham]) one count per field, nil when absent; then,
-- with the learner's keys, per model its slot of each field and its bias (nil when absent).
local out = {}
local function totals(key)
  local t = redis.call('HMGET', key, 'spam', 'ham')
  out[#out + 1] = tonumber(t[1]) or 0
  out[#out + 1] = tonumber(t[2]) or 0
end
-- unpack() is bounded by the Lua stack: fields go to HMGET in slices.
local function counts(key)
  local n = #ARGV
  local i = 1
  while i <= n do
    local j = math.min(i + 3999, n)
    local part = redis.call('HMGET', key, unpack(ARGV, i, j))
    for k = 1, j - i + 1 do
      out[#out + 1] = part[k]
    end
    i = j + 1
  end
end
totals(KEYS[1])
if #KEYS >= 6 then totals(KEYS[4]) else out[3] = 0; out[4] = 0 end
counts(KEYS[2])
counts(KEYS[3])
local models = 1
if #KEYS >= 6 then
  models = 2
  counts(KEYS[5])
  counts(KEYS[6])
end
-- The token learner (E25): its own key per model, read in this same call.
for i = 3 * models + 1, #KEYS do
  counts(KEYS[i])
  out[#out + 1] = redis.call('HGET', KEYS[i], 'bias')
end
return out
