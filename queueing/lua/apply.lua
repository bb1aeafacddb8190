-- apply.lua: fire the due timers and dispatch (policy.tick), then apply one event and dispatch
-- (policy.apply), atomically. Loaded after the library (lib.lua and the files it lists).
-- KEYS[1..20]  the routing keys, as listed in lib.lua (keys.RoutingKeys.script_keys())
-- ARGV[1]  digest of the routing settings the caller expects in the config hash
-- ARGV[2]  now, epoch seconds
-- ARGV[3]  centres closed by opening hours at now, space-separated
-- ARGV[4]  the next opening-hours change of each open scheduled centre: "county at county at"
-- ARGV[5]  the event, as JSON (queueing.effect_codec.encode_event)
-- Returns {refusal code or "", message, effects JSON}; the timers' effects stay done when the
-- event is refused. Returns {"config"} when the config hash is missing or differs.
local now = Q.begin(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
if now == nil then return {'config'} end
Q.tick(now)
return Q.finish(now, Q.apply_event(ARGV[5], now))
