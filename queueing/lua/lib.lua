-- lib.lua: the routing policy in Lua, shared by the scripts that change the routing state.
--
-- Redis scripts cannot `require`, so queueing/redis_queue.py loads apply.lua, tick.lua and
-- restore.lua each as the library followed by the operation's own body, and registers the
-- result once per client; calls go by SHA. The library is these files, concatenated in this
-- order into one chunk (so the locals declared here are seen by all of them):
--   lib.lua            keys, settings, the clock, effects, counters
--   lib_store.lua      chats and counsellors as hashes, and the indexes that follow from them
--   lib_order.lua      queueing/order.py: who may take what, dispatch
--   lib_lifecycle.lua  queueing/lifecycle.py: the primitive moves
--   lib_guards.lua     queueing/guards.py: refusals
--   lib_policy.lua     queueing/policy.py: events, timers, settle
-- They port the Python rule for rule, with its names, so the two can be read side by side;
-- where the adapter differs, queueing/redis_queue.py's docstring says so.
--
-- KEYS, the same for every routing script (keys.RoutingKeys.script_keys(), which says why each
-- exists). Those ending in ":" are prefixes the script completes with an id; every key starts
-- with the same prefix and {routing} hash tag, so all of them are in one Cluster slot.
--   KEYS[1]  config             hash     settings and their digest
--   KEYS[2]  meta               hash     seq, clock, answers (answer id counter), unsettled
--   KEYS[3]  counters           hash     model.Counters
--   KEYS[4]  answer-waits       list     Counters.answer_waits
--   KEYS[5]  chat:              hash     + chat id: one chat
--   KEYS[6]  counsellor:        hash     + counsellor id: one counsellor
--   KEYS[7]  chats              zset     every chat id
--   KEYS[8]  counsellors        zset     every counsellor id
--   KEYS[9]  closed             zset     closed chats by closing time
--   KEYS[10] line:              zset     + county: unanswered chats of a county queue by place
--   KEYS[11] line-pool          zset     unanswered chats of the national pool by place
--   KEYS[12] fresh:             zset     + county: unanswered, not overflowed county chats
--   KEYS[13] ready:             zset     + county ":" language: offerable county chats
--   KEYS[14] ready-pool:        zset     + language: offerable national pool chats
--   KEYS[15] staff:             zset     + county: registered counsellors of the centre
--   KEYS[16] available:         zset     + county: available counsellors of the centre
--   KEYS[17] free               zset     counsellors who may get an offer, in load order
--   KEYS[18] timers             zset     every pending timer by due time
--   KEYS[19] answers:           zset     + pool: recent answers by time
--   KEYS[20] effects            stream   each call's effects
--
-- Numbers are written with %.17g: Lua's own number-to-string keeps 14 digits and would lose
-- precision; 17 significant digits make every double round-trip exactly to Python.
-- A script runs the whole library on every call, so definitions are kept cheap: the policy's
-- functions are fields of one table Q (closures capturing many locals cost several times more
-- to create), and the few helpers every function uses are plain locals.

local K = {
  config = KEYS[1], meta = KEYS[2], counters = KEYS[3], answer_waits = KEYS[4],
  chat = KEYS[5], counsellor = KEYS[6], chats = KEYS[7], counsellors = KEYS[8],
  closed = KEYS[9], line = KEYS[10], line_pool = KEYS[11], fresh = KEYS[12],
  ready = KEYS[13], ready_pool = KEYS[14], staff = KEYS[15], available = KEYS[16],
  free = KEYS[17], timers = KEYS[18], answers = KEYS[19], effects = KEYS[20],
}
local call = redis.call
local NATIONAL = 'national'
-- A place in line as one sorted-set score, the same order as Chat.order_key: handed-back chats
-- by front_seq, then everyone else by arrival_seq. Both come from one counter far below 2^52,
-- and 2^52 + n is still an exact double.
local BACK = 4503599627370496
-- Timer kinds as one leading digit, in the order policy.py fires them at the same instant.
local T_OFFER, T_SEEKER, T_COUNSELLOR, T_OVERFLOW, T_REOFFER = '0', '1', '2', '3', '4'
-- Entries kept in the effects stream: hours at a real service's pace and still most of a minute
-- at 2,000 decisions a second, far longer than a live reader lags; one that falls further
-- behind rebuilds from a snapshot. "~" lets Redis trim whole nodes, cheaply.
local STREAM_MAXLEN = 100000

-- State of this call.
local chats, counsellors = {}, {} -- id -> object, or false when known not to exist
local touched, effects = {}, {}
local closed, closes = {}, {} -- opening hours at now: closed centres, next change of open ones
local settings -- the config fields every transition may need, read in one HMGET by begin
local extra = {} -- other config fields (centre:<county>, lang:<code>), read on first use
-- What may have made a new offer possible since the last dispatch. After every call no offer is
-- possible (policy._settle), so only a chat becoming offerable (or a declined chat's block
-- ending), a counsellor becoming free, or a restore can make one, and only with those.
local fresh = {chats = {}, free = {}, all = false}
local READY, READY_POOL = K.ready, K.ready_pool
local Q = {}

local function fmt(x)
  return string.format('%.17g', x)
end

-- JSON for an effect field: strings through cjson (escaping), numbers with full precision.
local function js(v)
  if v == nil then return 'null' end
  local t = type(v)
  if t == 'number' then return fmt(v) end
  if t == 'boolean' then return v and 'true' or 'false' end
  return cjson.encode(v)
end

local function opt(v)
  if v == cjson.null then return nil end
  return v
end

local function add_entry(map, key, member, score)
  local members = map[key]
  if members == nil then
    members = {}
    map[key] = members
  end
  members[member] = score
end

-- --- settings, clock, effects --------------------------------------------------------------

local SETTINGS = {
  'digest', 'offer_timeout', 'away_on_offer_timeout', 'seeker_grace', 'counsellor_grace',
  'reoffer_after', 'rate_window', 'closed_retention', 'min_capacity', 'max_capacity',
}

function Q.cfg(name)
  local v = extra[name]
  if v == nil then
    v = call('HGET', K.config, name)
    extra[name] = v
  end
  return v
end

-- Read the settings; returns the digest of the config hash (false when there is none).
function Q.read_settings()
  local values = call('HMGET', K.config, unpack(SETTINGS))
  settings = {}
  for i = 2, #SETTINGS do settings[SETTINGS[i]] = tonumber(values[i]) end
  return values[1]
end

-- Start a call: check the settings digest, advance the shared clock, read the opening-hours
-- arguments and forget long-closed chats. Returns the effective now, or nil when the config
-- hash is missing or was written by other settings (the adapter then rewrites it and retries).
-- The clock never goes back: a call whose now is behind another instance's runs at the latest
-- now seen, so timers fire in order and waits are never negative.
function Q.begin(digest, now_arg, closed_arg, closes_arg)
  if Q.read_settings() ~= digest then return nil end
  local now = tonumber(now_arg)
  local meta = call('HMGET', K.meta, 'clock', 'unsettled')
  local last = tonumber(meta[1])
  if last ~= nil and last >= now then
    now = last
  else
    call('HSET', K.meta, 'clock', fmt(now))
  end
  if meta[2] then -- a restored state: dispatch once whatever happens
    fresh.all = true
    call('HDEL', K.meta, 'unsettled')
  end
  for county in string.gmatch(closed_arg, '%S+') do closed[county] = true end
  for county, at in string.gmatch(closes_arg, '(%S+) (%S+)') do closes[county] = tonumber(at) end
  Q.forget_closed(now)
  return now
end

-- Closed chats answer late events with chat_closed for closed_retention seconds, then are
-- dropped (a few per call, so the work per call stays bounded).
function Q.forget_closed(now)
  local horizon = fmt(now - settings.closed_retention)
  local old = call('ZRANGEBYSCORE', K.closed, '-inf', horizon, 'LIMIT', 0, 16)
  for _, id in ipairs(old) do
    call('DEL', K.chat .. id)
    call('ZREM', K.chats, id)
    call('ZREM', K.closed, id)
  end
end

function Q.emit(kind, ...)
  local parts = {'{"type":"', kind, '"'}
  local args = {...}
  for i = 1, select('#', ...), 2 do
    parts[#parts + 1] = ',"' .. args[i] .. '":' .. js(args[i + 1])
  end
  parts[#parts + 1] = '}'
  effects[#effects + 1] = table.concat(parts)
end

-- Write everything back, append the effects to the stream, and build the reply:
-- {refusal code or "", message, effects as a JSON array}.
function Q.finish(now, refusal)
  Q.flush()
  local json = '[' .. table.concat(effects, ',') .. ']'
  if #effects > 0 then
    call('XADD', K.effects, 'MAXLEN', '~', STREAM_MAXLEN, '*', 'effects', json, 'at', fmt(now))
  end
  if refusal then return {refusal.refusal, refusal.message, json} end
  return {'', '', json}
end

-- --- counters ------------------------------------------------------------------------------

function Q.count(field, by)
  call('HINCRBY', K.counters, field, by or 1)
end

-- Float sums are added in Lua (HINCRBYFLOAT rounds differently from a Python float).
function Q.add(field, x)
  local v = tonumber(call('HGET', K.counters, field)) or 0
  call('HSET', K.counters, field, fmt(v + x))
end

function Q.count_waiting(queue, delta)
  local field = 'waiting:' .. queue
  if call('HINCRBY', K.counters, field, delta) == 0 then call('HDEL', K.counters, field) end
end

function Q.next_seq()
  return call('HINCRBY', K.meta, 'seq', 1)
end

-- An answer counts for its county pool and, when national or overflowed, the national pool.
-- Each pool drops answers older than the rate window when it gets a new one.
function Q.record_answer(at, queue, overflowed)
  local n = call('HINCRBY', K.meta, 'answers', 1)
  local member = string.format('%015d', n) .. ' ' .. queue .. ' ' .. (overflowed and '1' or '0')
  local horizon = fmt(at - settings.rate_window)
  local score = fmt(at)
  if queue ~= NATIONAL then
    call('ZADD', K.answers .. queue, score, member)
    call('ZREMRANGEBYSCORE', K.answers .. queue, '-inf', horizon)
  end
  if queue == NATIONAL or overflowed then
    call('ZADD', K.answers .. NATIONAL, score, member)
    call('ZREMRANGEBYSCORE', K.answers .. NATIONAL, '-inf', horizon)
  end
end
