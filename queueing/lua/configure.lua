-- configure.lua: replace the routing settings hash in one step. Runs without lib.lua.
-- KEYS[1..20]  the routing keys, as listed in lib.lua; it writes KEYS[1] config
-- ARGV[1..n]   field, value pairs (queueing.redis_state.config_fields), the digest included
-- Returns "OK".
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV))
return 'OK'
