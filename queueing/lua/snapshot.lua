-- snapshot.lua: the whole routing state, raw, in one atomic read (for tests, rebuild checks and
-- dashboards; it reads every chat, so it is not for the hot path). Runs without lib.lua.
-- KEYS[1..20]  the routing keys, as listed in lib.lua
-- ARGV[1]     the rate window, seconds
-- ARGV[2..n]  the answer pools to read: "national" and every county
-- Returns {meta, counters, answer waits, answers, counsellors, chats}: meta and counters as
-- HGETALL pairs; answers as member, time pairs from the window before the clock (each answer
-- once); counsellors and chats as id, HGETALL pairs.
local call = redis.call
local clock = tonumber(call('HGET', KEYS[2], 'clock'))
local from = '-inf'
if clock ~= nil then from = '(' .. string.format('%.17g', clock - tonumber(ARGV[1])) end
local answers, seen = {}, {}
for i = 2, #ARGV do
  local found = call('ZRANGEBYSCORE', KEYS[19] .. ARGV[i], from, '+inf', 'WITHSCORES')
  for j = 1, #found, 2 do
    if not seen[found[j]] then
      seen[found[j]] = true
      answers[#answers + 1] = found[j]
      answers[#answers + 1] = found[j + 1]
    end
  end
end
local function read_all(index, prefix)
  local out = {}
  for _, id in ipairs(call('ZRANGE', index, 0, -1)) do
    out[#out + 1] = id
    out[#out + 1] = call('HGETALL', prefix .. id)
  end
  return out
end
return {
  call('HGETALL', KEYS[2]), call('HGETALL', KEYS[3]), call('LRANGE', KEYS[4], 0, -1),
  answers, read_all(KEYS[8], KEYS[6]), read_all(KEYS[7], KEYS[5]),
}
