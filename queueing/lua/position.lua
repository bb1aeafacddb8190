-- position.lua: one unanswered chat's place in line (order.positions for one chat), read-only.
-- Runs on its own (without lib.lua): it is called for every waiting seeker, often.
-- KEYS[1..20]  the routing keys, as listed in lib.lua; it reads KEYS[5] chat:, KEYS[10] line:,
--              KEYS[11] line-pool and KEYS[19] answers:
-- ARGV[1]  chat id
-- ARGV[2]  now, epoch seconds
-- ARGV[3]  the rate window, seconds
-- Returns {pool, position (1 is next), answers in the pool over the window}, or nil when the
-- chat is unknown or no longer waiting. The caller divides for the expected wait.
local chat_id = ARGV[1]
local f = redis.call('HMGET', KEYS[5] .. chat_id, 'status', 'queue', 'overflowed')
if f[1] ~= 'waiting' and f[1] ~= 'offered' then return false end
local pool, line = f[2], KEYS[10] .. f[2]
if pool == 'national' or f[3] == '1' then pool, line = 'national', KEYS[11] end
local rank = redis.call('ZRANK', line, chat_id)
local now = tonumber(ARGV[2])
local from = '(' .. string.format('%.17g', now - tonumber(ARGV[3]))
return {pool, rank + 1, redis.call('ZCOUNT', KEYS[19] .. pool, from, string.format('%.17g', now))}
