-- mailsift: prune one step of a model's tokens (`db prune`), atomically.
-- KEYS: totals, counts, token learner state of one model (one hash tag: one cluster slot)
-- ARGV: max_count, then candidate fields (8-byte token hashes) found by HSCAN
-- Removes each candidate whose spam and ham counts together are from 1 to max_count (counts
-- read now, so a token learned again since the scan stays), adds what it held to the model's
-- pruned sums (occurrences, and hash x count modulo 2^64 in two 32-bit halves, exact in Lua's
-- doubles), removes the token learner's slots of the tokens removed (a slot goes with its
-- counts, as an SQLite row does), and returns how many tokens it removed (the distinct-token
-- count is the HLEN).
local SHIFT = 67108864
local max = tonumber(ARGV[1])
local n = #ARGV - 1
if n <= 0 then return 0 end
-- The learner's state changes: a client's copy of it is stale (see redis_apply_lr.lua).
redis.call('HDEL', KEYS[1], 'lr_version')
local v = redis.call('HMGET', KEYS[2], unpack(ARGV, 2, n + 1))
local p = redis.call('HMGET', KEYS[1], 'pruned_s', 'pruned_s_hi', 'pruned_s_lo',
  'pruned_h', 'pruned_h_hi', 'pruned_h_lo')
local acc = {}
for i = 1, 6 do acc[i] = tonumber(p[i]) or 0 end
local W = 4294967296
local function add(b, field, k)
  if k == 0 then return end
  local x1, x2, x3, x4, y1, y2, y3, y4 = string.byte(field, 1, 8)
  local hi = ((x1 * 256 + x2) * 256 + x3) * 256 + x4
  local lo = ((y1 * 256 + y2) * 256 + y3) * 256 + y4
  acc[b + 1] = acc[b + 1] + k
  local l = acc[b + 3] + lo * k
  local carry = math.floor(l / W)
  acc[b + 3] = l - carry * W
  acc[b + 2] = (acc[b + 2] + hi * k + carry) % W
end
local gone = {}
for i = 1, n do
  local field = ARGV[i + 1]
  local x = tonumber(v[i]) or 0
  local cs = math.floor(x / SHIFT)
  local ch = x - cs * SHIFT
  if cs + ch >= 1 and cs + ch <= max then
    gone[#gone + 1] = field
    add(0, field, cs)
    add(3, field, ch)
  end
end
if #gone == 0 then return 0 end
redis.call('HDEL', KEYS[2], unpack(gone))
redis.call('HDEL', KEYS[3], unpack(gone))
redis.call('HSET', KEYS[1], 'pruned_s', acc[1], 'pruned_s_hi', acc[2], 'pruned_s_lo', acc[3],
  'pruned_h', acc[4], 'pruned_h_hi', acc[5], 'pruned_h_lo', acc[6])
return #gone
