-- lib_store.lua: chats and counsellors as Redis hashes, and the index entries that follow
-- from them (the same fields as queueing/redis_state.py). Part of the library; see lib.lua.
--
-- Objects are read into Lua tables on first use, changed in memory by the lifecycle functions,
-- and written back by `flush` (the changed hash fields, and the index entries that follow from
-- the fields) before any index is read, so indexes are never stale.
--
-- Each object keeps `values` (its hash fields as they are stored, numbers as numbers) and
-- `entries` (the index entries that follow from them); `save` writes only what changed.

local function fieldmap(raw)
  local f = {}
  for i = 1, #raw, 2 do f[raw[i]] = raw[i + 1] end
  return f
end

function Q.place(chat)
  return chat.front_seq or (BACK + chat.arrival_seq)
end

function Q.decode_chat(id, f)
  local chat = {
    kind = 'chat', id = id, county = f.county, queue = f.queue, language = f.language,
    arrived_at = tonumber(f.arrived_at), arrival_seq = tonumber(f.arrival_seq),
    status = f.status, waiting_since = tonumber(f.waiting_since),
    front_seq = tonumber(f.front_seq), overflowed = f.overflowed == '1',
    overflows = f.overflows, -- "at reason;at reason": only ever appended to here
    overflow_at = tonumber(f.overflow_at), overflow_due = f.overflow_due,
    counsellor_id = f.counsellor_id, grace_until = tonumber(f.grace_until), excluded = {},
    first_answered_at = tonumber(f.first_answered_at), offers_made = tonumber(f.offers_made),
    accepts = tonumber(f.accepts), closed_at = tonumber(f.closed_at),
  }
  if f.offer_counsellor then
    chat.offer = {cid = f.offer_counsellor, deadline = tonumber(f.offer_deadline),
                  from = f.offer_from}
  end
  for name, value in pairs(f) do
    if string.sub(name, 1, 2) == 'x:' then chat.excluded[string.sub(name, 3)] = tonumber(value) end
  end
  return chat
end

function Q.chat_values(chat)
  local v = {
    queue = chat.queue, language = chat.language, arrived_at = chat.arrived_at,
    arrival_seq = chat.arrival_seq, status = chat.status, waiting_since = chat.waiting_since,
    offers_made = chat.offers_made, accepts = chat.accepts, county = chat.county,
    front_seq = chat.front_seq, overflowed = chat.overflowed and '1' or nil,
    overflows = chat.overflows, overflow_at = chat.overflow_at,
    overflow_due = chat.overflow_due, counsellor_id = chat.counsellor_id,
    grace_until = chat.grace_until, first_answered_at = chat.first_answered_at,
    closed_at = chat.closed_at,
  }
  local offer = chat.offer
  if offer then
    v.offer_counsellor, v.offer_deadline, v.offer_from = offer.cid, offer.deadline, offer.from
  end
  for who, till in pairs(chat.excluded) do v['x:' .. who] = till end
  return v
end

-- The index entries that follow from a chat's fields: {key = {member = score}}.
function Q.chat_entries(chat)
  local e = {}
  add_entry(e, K.chats, chat.id, 0)
  local status = chat.status
  if status == 'waiting' or status == 'offered' then
    local at = Q.place(chat)
    local county = chat.queue ~= NATIONAL
    local pool = not county or chat.overflowed
    local ready = status == 'waiting' and chat.grace_until == nil
    if county then add_entry(e, K.line .. chat.queue, chat.id, at) end
    if pool then add_entry(e, K.line_pool, chat.id, at) end
    if county and not chat.overflowed then add_entry(e, K.fresh .. chat.queue, chat.id, at) end
    if ready and county then
      add_entry(e, K.ready .. chat.queue .. ':' .. chat.language, chat.id, at)
    end
    if ready and pool then add_entry(e, K.ready_pool .. chat.language, chat.id, at) end
    -- Timers only of unanswered chats, as policy._earliest.
    local owner = chat.id .. '\0'
    if chat.offer then add_entry(e, K.timers, T_OFFER .. owner, chat.offer.deadline) end
    if chat.grace_until then add_entry(e, K.timers, T_SEEKER .. owner, chat.grace_until) end
    if chat.overflow_at then add_entry(e, K.timers, T_OVERFLOW .. owner, chat.overflow_at) end
    for who, till in pairs(chat.excluded) do
      add_entry(e, K.timers, T_REOFFER .. owner .. who, till)
    end
  elseif chat.closed_at then
    add_entry(e, K.closed, chat.id, chat.closed_at)
  end
  return e
end

function Q.decode_counsellor(id, f)
  local c = {
    kind = 'counsellor', id = id, centre = f.centre, national = f.national == '1',
    langs = f.languages, languages = {}, capacity = tonumber(f.capacity),
    auto_accept = f.auto_accept == '1', status = f.status, idle_since = tonumber(f.idle_since),
    active = {}, offer = f.offer, grace_until = tonumber(f.grace_until),
  }
  for language in string.gmatch(f.languages, '%S+') do c.languages[language] = true end
  for name in pairs(f) do
    if string.sub(name, 1, 2) == 'a:' then c.active[string.sub(name, 3)] = true end
  end
  return c
end

function Q.counsellor_values(c)
  local v = {
    languages = c.langs, capacity = c.capacity, status = c.status, idle_since = c.idle_since,
    centre = c.centre, national = c.national and '1' or nil,
    auto_accept = c.auto_accept and '1' or nil, offer = c.offer, grace_until = c.grace_until,
  }
  for id in pairs(c.active) do v['a:' .. id] = '1' end
  return v
end

function Q.n_active(c)
  local n = 0
  for _ in pairs(c.active) do n = n + 1 end
  return n
end

-- order.is_free
function Q.is_free(c)
  return c.status == 'available' and c.grace_until == nil and c.offer == nil
    and Q.n_active(c) < c.capacity
end

-- A double as 16 hex digits that sort like the numbers (IEEE bits, sign flipped), so the free
-- set orders equal loads by idle_since, then by id, as order.load_key.
function Q.sortable(x)
  if x == 0 then x = 0 end -- -0.0 sorts as 0.0, as in Python
  local b = {string.byte(struct.pack('>d', x), 1, 8)}
  if b[1] >= 128 then
    for i = 1, 8 do b[i] = 255 - b[i] end
  else
    b[1] = b[1] + 128
  end
  return string.format('%02x%02x%02x%02x%02x%02x%02x%02x', unpack(b))
end

-- A free counsellor's member: sortable idle_since, id, then what decides what they may take
-- (centre, national team, languages), so dispatch reads all it needs from the free set itself.
function Q.counsellor_entries(c)
  local e = {}
  add_entry(e, K.counsellors, c.id, 0)
  if c.centre then
    add_entry(e, K.staff .. c.centre, c.id, 0)
    if c.status == 'available' then add_entry(e, K.available .. c.centre, c.id, 0) end
  end
  if Q.is_free(c) then
    local member = Q.sortable(c.idle_since) .. c.id .. '\0' .. (c.centre or '') .. '\0'
      .. (c.national and '1' or '0') .. '\0' .. c.langs
    add_entry(e, K.free, member, Q.n_active(c))
  end
  if c.grace_until then add_entry(e, K.timers, T_COUNSELLOR .. c.id .. '\0', c.grace_until) end
  return e
end

function Q.load_chat(id)
  local chat = chats[id]
  if chat == nil then
    local raw = call('HGETALL', K.chat .. id)
    if #raw == 0 then
      chat = false
    else
      chat = Q.decode_chat(id, fieldmap(raw))
      chat.values, chat.entries = Q.chat_values(chat), Q.chat_entries(chat)
    end
    chats[id] = chat
  end
  return chat or nil
end

function Q.load_counsellor(id)
  local c = counsellors[id]
  if c == nil then
    local raw = call('HGETALL', K.counsellor .. id)
    if #raw == 0 then
      c = false
    else
      c = Q.decode_counsellor(id, fieldmap(raw))
      c.values, c.entries = Q.counsellor_values(c), Q.counsellor_entries(c)
    end
    counsellors[id] = c
  end
  return c or nil
end

-- Mark an object to be written at the next flush. Call it after changing the object: a flush
-- in between (any index read) writes and unmarks it.
function Q.touch(o)
  if not o.touched then
    o.touched = true
    touched[#touched + 1] = o
  end
end

-- Bring the index sorted sets from one set of entries to another, and note what may make a new
-- offer possible: a chat that is now offerable (or no longer blocks a decliner), a counsellor
-- who is now free (or whose place among the free changed).
function Q.sync(old, new)
  for key, members in pairs(old) do
    local keep = new[key]
    for member in pairs(members) do
      if keep == nil or keep[member] == nil then
        call('ZREM', key, member)
        if key == K.timers and string.sub(member, 1, 1) == T_REOFFER then
          fresh.chats[string.sub(member, 2, string.find(member, '\0', 2, true) - 1)] = true
        end
      end
    end
  end
  for key, members in pairs(new) do
    local had = old[key] or {}
    for member, score in pairs(members) do
      local before = had[member]
      if before ~= score then
        call('ZADD', key, fmt(score), member)
        if before == nil then
          if key == K.free then
            fresh.free[string.sub(member, 17, string.find(member, '\0', 17, true) - 1)] = true
          elseif string.sub(key, 1, #READY) == READY
              or string.sub(key, 1, #READY_POOL) == READY_POOL then
            fresh.chats[member] = true
          end
        end
      end
    end
  end
end

function Q.save(o)
  local prefix, new, entries
  if o.kind == 'chat' then
    prefix, new, entries = K.chat, Q.chat_values(o), Q.chat_entries(o)
  else
    prefix, new, entries = K.counsellor, Q.counsellor_values(o), Q.counsellor_entries(o)
  end
  local base, set, del = o.values, {}, {}
  for name, value in pairs(new) do
    if base[name] ~= value then
      set[#set + 1] = name
      set[#set + 1] = type(value) == 'number' and fmt(value) or value
    end
  end
  for name in pairs(base) do
    if new[name] == nil then del[#del + 1] = name end
  end
  if #set > 0 then call('HSET', prefix .. o.id, unpack(set)) end
  if #del > 0 then call('HDEL', prefix .. o.id, unpack(del)) end
  Q.sync(o.entries, entries)
  o.values, o.entries = new, entries
end

function Q.flush()
  if #touched == 0 then return end
  local list = touched
  touched = {}
  for _, o in ipairs(list) do
    o.touched = false
    Q.save(o)
  end
end
