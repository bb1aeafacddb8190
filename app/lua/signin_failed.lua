-- Count one failed sign-in against an account (the username as typed) and a client address,
-- and set how long each must wait before its next attempt. Mirrors `wait_after` in
-- app/signin_limits.py, which the tests hold it to.
--
-- KEYS[1]  the account's counter (hash: failures, until)
-- KEYS[2]  the address's counter (same fields)
-- ARGV[1]  now, in milliseconds since the epoch
-- ARGV[2]  failures an account is allowed before it must wait
-- ARGV[3]  failures an address is allowed before it must wait
-- ARGV[4]  the first wait, in milliseconds; each further failure doubles it
-- ARGV[5]  the longest wait, in milliseconds
-- ARGV[6]  seconds after its last failure (and wait) that a counter is forgotten
-- Returns  {account until, address until}, in milliseconds since the epoch (0: no wait)

local now = tonumber(ARGV[1])
local first = tonumber(ARGV[4])
local longest = tonumber(ARGV[5])
local window = tonumber(ARGV[6])

local function wait_after(failures, allowed)
  if failures < allowed then
    return 0
  end
  local doublings = failures - allowed
  if doublings > 40 then
    return longest
  end
  return math.min(first * 2 ^ doublings, longest)
end

local function fail(key, allowed)
  local failures = redis.call('HINCRBY', key, 'failures', 1)
  local wait = wait_after(failures, allowed)
  local until_ms = 0
  if wait > 0 then
    until_ms = now + wait
  end
  redis.call('HSET', key, 'until', until_ms)
  redis.call('EXPIRE', key, window + math.ceil(wait / 1000))
  return until_ms
end

return {fail(KEYS[1], tonumber(ARGV[2])), fail(KEYS[2], tonumber(ARGV[3]))}
