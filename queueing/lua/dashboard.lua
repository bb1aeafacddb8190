-- dashboard.lua: the supervisor dashboard's figures, worked out in one atomic step where the
-- data is (`queueing.dashboard_view.dashboard_view` is the specification; tests hold the two
-- together). Never touches closed chats (kept for a day). Runs without lib.lua.
-- The cost does not grow with the chats waiting: counts come from the sizes of the sets, and
-- of each line only its head is read (the listed chats and those that may have waited longest).
-- KEYS[1..20]  the routing keys, as listed in lib.lua
-- ARGV[1]      how many waiting chats to list per queue
-- ARGV[2]      "1" to read the lines (queues and waiting), "" not to
-- ARGV[3]      the counsellors to read: "all" (counsellors and active), "" none, or their ids
--              separated by spaces (their rows only; active not read: no change that moves
--              only some counsellors moves a chat)
-- ARGV[4..n]   the county numbers with a centre
-- The parts not read come back "" (the caller keeps them from before).
-- Returns {queues, waiting, active, counsellors, version}. The first four are each one string of
-- tab-separated fields, rows one after another ("" when there are none):
--   queues       queue, waiting, overflowed, oldest waiting_since or ""          (4 a row)
--   waiting      queue, id, county or "", language, waiting_since, overflowed ("1" or ""),
--                offer counsellor or ""; the first ARGV[1] of each queue in order  (7 a row)
--   active       chat id, counsellor id: every chat being answered; what never changes
--                while a chat is answered (its queue, county, language, answer time) the
--                caller reads once and keeps                                      (2 a row)
--   counsellors  id, centre or "", national ("1" or ""), status, capacity, offer ("1" or ""),
--                grace ("1" or ""), chats held                                    (8 a row)
-- version is the id of the effects stream's last entry ("0-0" when empty): every change of the
-- routing state adds one in the same step, so views of the state are ordered by it.
local call = redis.call
local CHAT, COUNSELLOR, COUNSELLORS = KEYS[5], KEYS[6], KEYS[8]
local LINE, LINE_POOL, FRESH, EFFECTS = KEYS[10], KEYS[11], KEYS[12], KEYS[20]
local LIST = tonumber(ARGV[1])
local READ_LINES, READ_STAFF = ARGV[2] == '1', ARGV[3]

local BACK = 4503599627370496 -- places from here on are first arrivals (lib.lua BACK)
local CHUNK = 64

local rows, waiting = {}, {}
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
local function row(name, count, overflowed, oldest)
  local n = #rows
  rows[n + 1] = name
  rows[n + 2] = tostring(count)
  rows[n + 3] = tostring(overflowed)
  rows[n + 4] = oldest
end

-- One queue's line, from its head: the first LIST chats that `keep` keeps are listed, and the
-- longest wait found. A chat waits since it (last) joined the queue, so a first arrival waits
-- since it arrived, and first arrivals stand in the order they came; only chats handed back,
-- at the head of the line, can have waited longer than the first of them. So the longest wait
-- is the earliest of the handed-back chats and the first first arrival, and the walk stops
-- there once LIST are listed (or `count`, all the line has).
local function walk(name, key, count, keep)
  local listed, oldest, oldest_text, settled = 0, nil, '', count == 0
  local from, chunk = 0, math.max(2, LIST + 1)  -- usually all it takes
  while not settled or listed < math.min(LIST, count) do
    local found = call('ZRANGE', key, from, from + chunk - 1, 'WITHSCORES')
    if #found == 0 then break end
    from, chunk = from + chunk, CHUNK
    for j = 1, #found, 2 do
      local id = found[j]
      if keep == nil or keep(id) then
        if listed < LIST then
          listed = listed + 1
          list(name, id)
        end
        if not settled then
          local text = call('HGET', CHAT .. id, 'waiting_since')
          local since = tonumber(text)
          if oldest == nil or since < oldest then oldest, oldest_text = since, text end
          settled = tonumber(found[j + 1]) >= BACK
        end
        if settled and listed >= math.min(LIST, count) then break end
      end
    end
  end
  return oldest_text
end

if READ_LINES then
  local counties, overflowed_in_counties = {}, 0
  for i = 4, #ARGV do
    local county = ARGV[i]
    counties[county] = true
    -- A county's line holds its unanswered chats in queue order, overflowed ones too; its
    -- "fresh" set those not overflowed; the national pool the overflowed ones too.
    local count = call('ZCARD', LINE .. county)
    local overflowed = count - call('ZCARD', FRESH .. county)
    overflowed_in_counties = overflowed_in_counties + overflowed
    local oldest = walk(county, LINE .. county, count, nil)
    row(county, count, overflowed, oldest)
  end
  -- The national pool: the national queue's chats and the overflowed county chats.
  local national = call('ZCARD', LINE_POOL) - overflowed_in_counties
  local function of_national(id)
    return not counties[call('HGET', CHAT .. id, 'queue')]
  end
  local oldest = walk('national', LINE_POOL, national, of_national)
  row('national', national, 0, oldest)
end

local byte, A, COLON = string.byte, string.byte('a'), string.byte(':')
local counsellors, active = {}, {}
local function staff_row(id, with_active)
  local f = call('HGETALL', COUNSELLOR .. id)
  if #f == 0 then return end
  local fields, held = {}, 0
  for k = 1, #f, 2 do
    local name = f[k]
    if byte(name, 1) == A and byte(name, 2) == COLON then -- 'a:' + chat id
      held = held + 1
      if with_active then
        active[#active + 1] = string.sub(name, 3)
        active[#active + 1] = id
      end
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
if READ_STAFF == 'all' then
  for _, id in ipairs(call('ZRANGE', COUNSELLORS, 0, -1)) do staff_row(id, true) end
else
  for id in string.gmatch(READ_STAFF, '%S+') do staff_row(id, false) end
end

local last = call('XREVRANGE', EFFECTS, '+', '-', 'COUNT', 1)
return {table.concat(rows, '\t'), table.concat(waiting, '\t'),
  table.concat(active, '\t'), table.concat(counsellors, '\t'), last[1] and last[1][1] or '0-0'}
