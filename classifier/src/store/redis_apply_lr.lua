-- mailsift: the token learner's part of redis_apply.lua (appended to it; see redis_lr.rs).
-- Two ways to the same state. The client keeps a copy of the model's learner state over its
-- batch (read atomically with the version in TOTALS' `lr_version`), takes FTRL's steps on it
-- (classifier/src/logreg.rs) and sends the slots and gradients they end in (WRITES), with the
-- version its copy is of (EXPECT). When the model is still at that version, nothing has moved
-- since the copy was read, and WRITES are exactly the steps taken from the state as it is: they
-- are written (the fast path: no arithmetic here). Otherwise (another host trained the model
-- meanwhile, or its state was pruned, reset or imported: no version) the steps are taken here,
-- in the order of the operations, from the state as it is (RECORDS): each gradient computed
-- from the weights before its step and kept for the undo, every value rounded to f32 where
-- logreg.rs stores one. Either way no step is lost or doubled, and the model's version becomes
-- NEXT (with '!' after a step taken here: the client's copy is then stale, and its next call,
-- planned from that copy, must not take the fast path). Returns 1, or 2 after the slow path.
-- ARGV (the last four): RECORDS: rate, beta, l1, l2, ham cost, min step (6 big-endian
-- doubles), then one record per operation that changes the ledger: flags (1 byte: 1 undo the
-- message's step, 2 step, 4 the step is toward spam (else ham), 8 drop the message's stored
-- gradient only), the 16-byte digest, with a step the margin's part from the site-wide model
-- (a double: its bias's and the message's tokens' weights, for a user's model; 0 for the
-- site-wide one), with an undo or a step the number of tokens (4 bytes) and their 8-byte
-- hashes. EXPECT ('*': the writes hold no step, only dropped gradients, and apply whatever
-- the version), NEXT, and WRITES: per field, its length (1 byte; plus 128 for a token whose
-- counts this call only adds to), the field, the value's length (1 byte; 0 removes the
-- field), the value.
local lr, expect, nextv, writes = take(), take(), take(), take()
local version = LR and redis.call('HGET', TOTALS, 'lr_version')
if LR and writes and (expect == '*' or (version and version == expect)) then
  -- A token's slot goes with its counts, as a SQLite row does (the counts were moved out of
  -- any schema-2 hash above, so COUNTS alone tells). A token this call's counts only added to
  -- has counts now (the client sets bit 128 of its field length): looked up only if a count
  -- of it was removed above (`gone`: a damaged value), or in a migration. Then the client's
  -- copy is not the model's (it kept the slot): the version it gets marks that.
  local byte, sub = string.byte, string.sub
  local puts, dels, ask, vals, sure = {}, {}, {}, {}, {}
  local i, len = 1, #writes
  while i <= len do
    local fl = byte(writes, i)
    local added = fl >= 128
    if added then fl = fl - 128 end
    local f = sub(writes, i + 1, i + fl)
    local vl = byte(writes, i + fl + 1)
    if vl == 0 then
      dels[#dels + 1] = f
    elseif fl == 8 and (legacy or not added or gone[f]) then
      ask[#ask + 1] = f
      vals[#vals + 1] = sub(writes, i + fl + 2, i + fl + 1 + vl)
      sure[#ask] = added
    else
      puts[#puts + 1] = f
      puts[#puts + 1] = sub(writes, i + fl + 2, i + fl + 1 + vl)
    end
    i = i + fl + 2 + vl
  end
  local k, drift = 0, ''
  sliced_get(COUNTS, ask, function(f, v)
    k = k + 1
    if v then
      puts[#puts + 1] = f
      puts[#puts + 1] = vals[k]
    else
      dels[#dels + 1] = f
      if sure[k] then drift = '!' end
    end
  end)
  if #puts > 0 then sliced('HSET', LR, puts) end
  if #dels > 0 then sliced('HDEL', LR, dels) end
  -- The client leaves out the slots its steps did not change (E49: most of a bulk training's);
  -- one whose counts were removed above goes with them all the same, and then the client's
  -- copy, which kept it, is not the model's.
  for f in pairs(gone) do
    if redis.call('HDEL', LR, f) > 0 then drift = '!' end
  end
  redis.call('HSET', TOTALS, 'lr_version', nextv .. drift)
  return 1
end
if LR and lr and #lr >= 48 then
  local byte, sub, sqrt, abs, exp = string.byte, string.sub, math.sqrt, math.abs, math.exp
  local spack, sunpack = struct.pack, struct.unpack
  local rate, beta, l1, l2, cost, minstep = sunpack('>dddddd', lr)
  rate = math.max(rate, 1e-12)
  local function f32(x) return (sunpack('>f', spack('>f', x))) end
  -- logreg.rs's thresholds are f32: compared as f32 values there, so rounded here.
  local EMPTY_Z, EMPTY_N = f32(1e-7), f32(1e-12)
  local NEG_Z, NEG_N = f32(1e-3), f32(1e-4)
  local function decode(v)
    if not v or #v ~= 8 then return nil end
    local z, n = sunpack('>ff', v)
    -- Slot::from_bits: anything not finite (or n below 0) reads as nothing.
    if z ~= z or n ~= n or n < 0 or abs(z) == math.huge or n == math.huge then return nil end
    return z, n
  end
  local function weight(z, n)
    if abs(z) <= l1 then return 0 end
    local s = 1
    if z < 0 then s = -1 end
    return -(z - s * l1) / ((beta + sqrt(math.max(n, 0))) / rate + l2)
  end
  local function u32(i)
    local b1, b2, b3, b4 = byte(lr, i, i + 3)
    return ((b1 * 256 + b2) * 256 + b3) * 256 + b4
  end
  -- The records, and every token they name.
  local recs, fields, seen = {}, {}, {}
  local pos, len = 49, #lr
  while pos + 16 <= len do
    local flags = byte(lr, pos)
    local r = { flags = flags, digest = sub(lr, pos + 1, pos + 16), base = 0 }
    pos = pos + 17
    local step = flags % 4 >= 2
    if step then
      r.base = sunpack('>d', lr, pos)
      pos = pos + 8
    end
    if flags % 2 == 1 or step then
      local n = u32(pos)
      pos = pos + 4
      local toks = {}
      for i = 1, n do
        local f = sub(lr, pos, pos + 7)
        toks[i] = f
        pos = pos + 8
        if not seen[f] then
          seen[f] = true
          fields[#fields + 1] = f
        end
      end
      r.toks = toks
    end
    recs[#recs + 1] = r
  end
  -- The state of those tokens: Z, N (absent: no slot).
  local Z, N = {}, {}
  sliced_get(LR, fields, function(f, v)
    local z, n = decode(v)
    if z and not (abs(z) < EMPTY_Z and n < EMPTY_N) then Z[f], N[f] = z, n end
  end)
  local bz, bn = decode(redis.call('HGET', LR, 'bias'))
  bz, bn = bz or 0, bn or 0
  -- The tokens whose state the steps below change (only those are written back).
  local dirty = {}
  -- Stored gradients as met: a number, or false once dropped.
  local G = {}
  local function grad(d)
    local g = G[d]
    if g == nil then
      local v = redis.call('HGET', LR, d)
      g = false
      if v and #v == 4 then
        g = sunpack('>f', v)
        if g ~= g or abs(g) == math.huge then g = false end
      end
      G[d] = g
    end
    return g
  end
  local function stepped(z, n, g)
    local w = weight(z, n)
    local sigma = (sqrt(n + g * g) - sqrt(n)) / rate
    return sunpack('>ff', spack('>ff', z + g - sigma * w, n + g * g))
  end
  local function unstepped(z1, n1, g)
    local n0 = n1 - g * g
    if n0 <= n1 * 1e-6 then n0 = 0 end
    local sigma = (sqrt(n1) - sqrt(n0)) / rate
    local k = sigma / ((beta + sqrt(math.max(n0, 0))) / rate + l2)
    local inside = z1 - g
    local z0 = inside
    if abs(inside) > l1 then
      local s = 1
      if inside < 0 then s = -1 end
      z0 = (inside + k * s * l1) / (1 + k)
    end
    local z, n = sunpack('>ff', spack('>ff', z0, n0))
    if abs(z) < EMPTY_Z and n < EMPTY_N then return 0, 0 end
    return z, n
  end
  for _, r in ipairs(recs) do
    local flags, d, toks = r.flags, r.digest, r.toks
    if flags >= 8 then
      G[d] = false
    end
    if flags % 2 == 1 then
      local g = grad(d)
      G[d] = false
      if g and g ~= 0 then
        bz, bn = unstepped(bz, bn, g)
        for _, f in ipairs(toks) do
          local z = Z[f]
          if z then
            local n
            z, n = unstepped(z, N[f], g)
            if abs(z) < NEG_Z and n < NEG_N then z, n = nil, nil end
            Z[f], N[f] = z, n
            dirty[f] = true
          end
        end
      end
    end
    if flags % 4 >= 2 then
      local y, c = 0, cost
      if flags % 8 >= 4 then y, c = 1, 1 end
      -- Each token's weight, kept for its step (taken again if a token came twice and its
      -- slot has moved since).
      local s, ws, zs, ns = 0, {}, {}, {}
      for i, f in ipairs(toks) do
        local z = Z[f]
        if z then
          local n = N[f]
          local w = weight(z, n)
          s = s + w
          ws[i], zs[i], ns[i] = w, z, n
        end
      end
      local m = weight(bz, bn) + r.base + s
      m = math.min(math.max(m, -30), 30)
      local g = c * (1 / (1 + exp(-m)) - y)
      if g ~= g or abs(g) == math.huge or abs(g) < minstep then g = 0 end
      if g ~= 0 then
        bz, bn = stepped(bz, bn, g)
        local gg = g * g
        for i, f in ipairs(toks) do
          local z, n = Z[f] or 0, N[f] or 0
          local w = 0
          if z ~= 0 or n ~= 0 then
            w = ws[i]
            if not w or zs[i] ~= z or ns[i] ~= n then w = weight(z, n) end
          end
          local sigma = (sqrt(n + gg) - sqrt(n)) / rate
          z, n = sunpack('>ff', spack('>ff', z + g - sigma * w, n + gg))
          if abs(z) < NEG_Z and n < NEG_N then z, n = nil, nil end
          Z[f], N[f] = z, n
          dirty[f] = true
        end
      end
      G[d] = f32(g)
    end
  end
  -- Written back: a token's slot goes with its counts, as a SQLite row does (the counts were
  -- moved out of any schema-2 hash above, so COUNTS alone tells); a negligible one not at all.
  -- Only the slots the steps changed, and those of tokens whose counts were removed above: the
  -- others are as they were (E49: most messages of a bulk training take no step).
  local back = {}
  for _, f in ipairs(fields) do
    if dirty[f] or gone[f] then back[#back + 1] = f end
  end
  local puts, dels = {}, {}
  sliced_get(COUNTS, back, function(f, counts)
    local z = Z[f]
    if z and counts then
      puts[#puts + 1] = f
      puts[#puts + 1] = spack('>ff', z, N[f])
    else
      dels[#dels + 1] = f
    end
  end)
  if abs(bz) < EMPTY_Z and bn < EMPTY_N then
    dels[#dels + 1] = 'bias'
  else
    puts[#puts + 1] = 'bias'
    puts[#puts + 1] = spack('>ff', bz, bn)
  end
  for d, g in pairs(G) do
    if g then
      puts[#puts + 1] = d
      puts[#puts + 1] = spack('>f', g)
    else
      dels[#dels + 1] = d
    end
  end
  if #puts > 0 then sliced('HSET', LR, puts) end
  if #dels > 0 then sliced('HDEL', LR, dels) end
  redis.call('HSET', TOTALS, 'lr_version', (nextv or '') .. '!')
  return 2
end
return 1
