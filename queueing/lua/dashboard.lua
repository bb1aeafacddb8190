-- dashboard.lua: the supervisor dashboard's figures, worked out in one atomic step where the
-- data is (`queueing.dashboard_view.dashboard_view` is the specification; tests hold the two
-- together). Never touches closed chats (kept for a day). Runs without lib.lua.
-- KEYS[1..20]  the routing keys, as listed in lib.lua
-- ARGV[1]      how many waiting chats to list per queue
-- ARGV[2..n]   the county numbers with a centre
-- Returns {queues, waiting, active, counsellors}, flat lists of strings, rows one after another:
--   queues       queue, waiting, overflowed, oldest waiting_since or ""          (4 a row)
--   waiting      queue, id, county or "", language, waiting_since, overflowed ("1" or ""),
--                offer counsellor or ""; the first ARGV[1] of each queue in order  (7 a row)
--   active       chat id, counsellor id: every chat being answered; what never changes
--                while a chat is answered (its queue, county, language, answer time) the
--                caller reads once and keeps                                      (2 a row)
--   counsellors  id, centre or "", national ("1" or ""), status, capacity, offer ("1" or ""),
--                grace ("1" or ""), chats held                                    (8 a row)
local call = redis.call
local CHAT, COUNSELLOR, COUNSELLORS = KEYS[5], KEYS[6], KEYS[8]
local LINE, LINE_POOL = KEYS[10], KEYS[11]
local LIST = tonumber(ARGV[1])

local BACK = 4503599627370496 -- places from here on are first arrivals (lib.lua BACK)
local FRESH = KEYS[12]

local order, queues, waiting = {}, {}, {}
local function queue_of(name)
  local q = queues[name]
  if q == nil then
    q = {waiting = 0, overflowed = 0, oldest = nil, oldest_text = ''}
    queues[name] = q
    order[#order + 1] = name
  end
  return q
end
local function list(name, id)
  local f = call('HMGET', CHAT .. id, 'county', 'language', 'waiting_since', 'overflowed',
    'offer_counsellor')
  local n = #waiting
  waiting[n + 1] = name
  waiting[n + 2] = id
  waiting[n + 3] = f[1] or ''
  waiting[n + 4] = f[2] or ''
  waiting[n + 5] = f[3]
  waiting[n + 6] = f[4] or ''
  waiting[n + 7] = f[5] or ''
end
-- The longest wait of a line: a chat waits since it (last) joined the queue, so a first
-- arrival waits since it arrived, and first arrivals stand in the order they came; only chats
-- handed back, at the head of the line, can have waited longer than the first of them. So it
-- is the earliest of the handed-back chats and the first first arrival.
local function oldest(q, line, places, keep)
  for i = 1, #line do
    local id = line[i]
    if keep == nil or keep(id) then
      local text = call('HGET', CHAT .. id, 'waiting_since')
      local since = tonumber(text)
      if q.oldest == nil or since < q.oldest then q.oldest, q.oldest_text = since, text end
      if tonumber(places[i]) >= BACK then return end
    end
  end
end
local function ids_and_places(key)
  local found = call('ZRANGE', key, 0, -1, 'WITHSCORES')
  local ids, places = {}, {}
  for j = 1, #found, 2 do
    ids[#ids + 1] = found[j]
    places[#places + 1] = found[j + 1]
  end
  return ids, places
end

local in_county = {}
for i = 2, #ARGV do
  local county = ARGV[i]
  local q = queue_of(county)
  -- A county's line holds its unanswered chats in queue order, overflowed ones too; its
  -- "fresh" set those not overflowed.
  local line, places = ids_and_places(LINE .. county)
  for _, id in ipairs(line) do in_county[id] = true end
  q.waiting = #line
  q.overflowed = #line - call('ZCARD', FRESH .. county)
  for j = 1, math.min(LIST, #line) do list(county, line[j]) end
  oldest(q, line, places, nil)
end
-- The national pool: the national queue's chats and the overflowed county chats (above).
local q = queue_of('national')
local pool, places = ids_and_places(LINE_POOL)
local national = function(id) return not in_county[id] end
for _, id in ipairs(pool) do
  if national(id) then
    q.waiting = q.waiting + 1
    if q.waiting <= LIST then list('national', id) end
  end
end
oldest(q, pool, places, national)

local counsellors, active = {}, {}
for _, id in ipairs(call('ZRANGE', COUNSELLORS, 0, -1)) do
  local f = call('HGETALL', COUNSELLOR .. id)
  local fields, held = {}, 0
  for k = 1, #f, 2 do
    local name = f[k]
    if string.sub(name, 1, 2) == 'a:' then
      held = held + 1
      active[#active + 1] = string.sub(name, 3)
      active[#active + 1] = id
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

local rows = {}
for _, name in ipairs(order) do
  local q = queues[name]
  local n = #rows
  rows[n + 1] = name
  rows[n + 2] = tostring(q.waiting)
  rows[n + 3] = tostring(q.overflowed)
  rows[n + 4] = q.oldest_text
end
return {rows, waiting, active, counsellors}
