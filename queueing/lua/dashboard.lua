-- dashboard.lua: what the supervisor dashboard shows, read in one atomic step: every unanswered
-- chat and every counsellor with the chats they hold, a few fields each. Unlike snapshot.lua it
-- never touches closed chats (kept for a day) and decodes nothing. Runs without lib.lua.
-- KEYS[1..20]  the routing keys, as listed in lib.lua
-- ARGV[1..n]   the county numbers with a centre
-- Returns {waiting, counsellors, active}, each a flat list of strings, rows one after another:
--   waiting      id, place, queue, county or "", language, waiting_since, overflowed ("1" or
--                ""), offer counsellor or ""                                  (8 values a row)
--   counsellors  id, centre or "", national ("1" or ""), status, capacity, offer ("1" or ""),
--                grace ("1" or ""), active chats                             (8 values a row)
--   active       id, queue, county or "", language, counsellor id, first answered at or ""
--                                                                            (6 values a row)
local call = redis.call
local CHAT, COUNSELLOR, COUNSELLORS, LINE, LINE_POOL = KEYS[5], KEYS[6], KEYS[8], KEYS[10], KEYS[11]

local waiting, seen = {}, {}
local function add_waiting(id, place)
  if seen[id] then return end
  seen[id] = true
  local f = call('HMGET', CHAT .. id, 'queue', 'county', 'language', 'waiting_since',
    'overflowed', 'offer_counsellor')
  local n = #waiting
  waiting[n + 1] = id
  waiting[n + 2] = place
  waiting[n + 3] = f[1] or ''
  waiting[n + 4] = f[2] or ''
  waiting[n + 5] = f[3] or ''
  waiting[n + 6] = f[4] or ''
  waiting[n + 7] = f[5] or ''
  waiting[n + 8] = f[6] or ''
end
-- A county's line holds its unanswered chats, overflowed ones too; the pool holds the national
-- queue's and the overflowed county chats (already seen).
for i = 1, #ARGV do
  local line = call('ZRANGE', LINE .. ARGV[i], 0, -1, 'WITHSCORES')
  for j = 1, #line, 2 do add_waiting(line[j], line[j + 1]) end
end
local pool = call('ZRANGE', LINE_POOL, 0, -1, 'WITHSCORES')
for j = 1, #pool, 2 do add_waiting(pool[j], pool[j + 1]) end

local counsellors, active = {}, {}
for _, id in ipairs(call('ZRANGE', COUNSELLORS, 0, -1)) do
  local f = call('HGETALL', COUNSELLOR .. id)
  local fields, held = {}, 0
  for k = 1, #f, 2 do
    local name = f[k]
    if string.sub(name, 1, 2) == 'a:' then
      held = held + 1
      local chat_id = string.sub(name, 3)
      local c = call('HMGET', CHAT .. chat_id, 'queue', 'county', 'language', 'first_answered_at')
      local n = #active
      active[n + 1] = chat_id
      active[n + 2] = c[1] or ''
      active[n + 3] = c[2] or ''
      active[n + 4] = c[3] or ''
      active[n + 5] = id
      active[n + 6] = c[4] or ''
    else
      fields[name] = f[k + 1]
    end
  end
  local n = #counsellors
  counsellors[n + 1] = id
  counsellors[n + 2] = fields.centre or ''
  counsellors[n + 3] = fields.national or ''
  counsellors[n + 4] = fields.status or ''
  counsellors[n + 5] = fields.capacity or ''
  counsellors[n + 6] = fields.offer and '1' or ''
  counsellors[n + 7] = fields.grace_until and '1' or ''
  counsellors[n + 8] = tostring(held)
end
return {waiting, counsellors, active}
