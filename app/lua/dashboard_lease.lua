-- dashboard_lease.lua: take, keep or give up the lease of the instance that computes the
-- dashboard for every instance (app/dashboard_relay.py).
-- KEYS[1]  the lease (a string holding the instance's id, with an expiry)
-- ARGV[1]  this instance's id
-- ARGV[2]  the lease's length in milliseconds; 0 gives the lease up if this instance holds it
-- Returns 1 when this instance holds the lease now (taken or kept), 0 otherwise.
local holder = redis.call('GET', KEYS[1])
local ms = tonumber(ARGV[2])
if ms == 0 then
  if holder == ARGV[1] then redis.call('DEL', KEYS[1]) end
  return 0
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ms)
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ms)
return 1
