-- mailsift: read one message's evidence in one call.
-- KEYS: totals, tokens of the site-wide model [, totals, tokens of the user's model]
-- ARGV: the message's token fields (8-byte big-endian hashes)
-- Returns the site totals (spam, ham), the user totals (spam, ham), then per field the site's
-- value, then (with a user) per field the user's value; a value is "SPAM HAM" or nil.
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
if #KEYS >= 4 then totals(KEYS[3]) else out[3] = 0; out[4] = 0 end
counts(KEYS[2])
if #KEYS >= 4 then counts(KEYS[4]) end
return out
