-- lib_order.lua: queueing/order.py, who may take what and which offer comes next.
-- Part of the library; see lib.lua.

function Q.staff_present(county)
  Q.flush()
  return call('ZCARD', K.available .. county) > 0
end

function Q.staff_configured(county)
  Q.flush()
  return call('ZCARD', K.staff .. county) > 0
end

function Q.route(county)
  if county == nil or not Q.staff_configured(county) then return NATIONAL end
  return county
end

-- The first chat in place order among `prefix .. language` for the given languages that the
-- counsellor has not declined (heads first, usually one read). Also says whether a declined
-- chat was passed over.
function Q.first_chat(cid, languages, prefix)
  local best, best_place, passed = nil, nil, false
  local exclusion = 'x:' .. cid
  for _, language in ipairs(languages) do
    local start, size, done = 0, 1, false
    while not done do
      local batch = call('ZRANGE', prefix .. language, start, start + size - 1, 'WITHSCORES')
      for i = 1, #batch, 2 do
        local at = tonumber(batch[i + 1])
        if best_place ~= nil and at >= best_place then
          done = true
        elseif call('HEXISTS', K.chat .. batch[i], exclusion) == 0 then
          best, best_place, done = batch[i], at, true
        else
          passed = true
        end
        if done then break end
      end
      if #batch < 2 * size then done = true end
      start, size = start + size, 16
    end
  end
  return best, passed
end

-- A fresh chat this counsellor may take, by their preference: the earliest place in their own
-- queue, else the earliest in the national pool (order.preference, over `candidates` only).
function Q.first_fresh(id, class, candidates)
  local own, own_at, pool, pool_at
  for _, chat in ipairs(candidates) do
    if class.speaks[chat.language] and chat.excluded[id] == nil then
      local at = Q.place(chat)
      if chat.queue == class.centre then
        if own_at == nil or at < own_at then own, own_at = chat, at end
      elseif class.national and (chat.queue == NATIONAL or chat.overflowed) then
        if pool_at == nil or at < pool_at then pool, pool_at = chat, at end
      end
    end
  end
  return own or pool
end

-- What a free-set member says about who may take what: "centre NUL national NUL languages".
local function parse_class(text)
  local centre, national, langs = string.match(text, '^(%Z*)%z(.)%z(.*)$')
  local class = {centre = centre, national = national == '1', languages = {}, speaks = {}}
  for language in string.gmatch(langs, '%S+') do
    class.languages[#class.languages + 1] = language
    class.speaks[language] = true
  end
  return class
end

-- order.best_pair: the least loaded, longest idle free counsellor with any chat they may take,
-- and their first such chat, own county queue before the national pool.
-- Only what changed since the last dispatch can make a pair (see `fresh`), so a counsellor who
-- was already free is only matched against the fresh chats, in Lua, with no reads; a newly
-- free counsellor (or everyone, after a restore) searches the heads of the ready sets.
-- `memo` remembers within one dispatch the counsellors with nothing to take (offers only ever
-- remove candidates) and the classes (centre, team, languages) with nothing offerable at all.
function Q.best_pair(memo)
  Q.flush()
  local candidates, searching = {}, 0
  for id in pairs(fresh.chats) do
    local chat = chats[id]
    if chat and chat.status == 'waiting' and chat.grace_until == nil then
      candidates[#candidates + 1] = chat
    end
  end
  for id in pairs(fresh.free) do
    local c = counsellors[id]
    if not memo.none[id] and c and Q.is_free(c) then searching = searching + 1 end
  end
  local start = 0
  while fresh.all or #candidates > 0 or searching > 0 do
    local batch = call('ZRANGE', K.free, start, start + 31)
    for _, member in ipairs(batch) do
      local nul = string.find(member, '\0', 17, true)
      local id, text = string.sub(member, 17, nul - 1), string.sub(member, nul + 1)
      if not memo.none[id] then
        local class = memo.classes[text]
        if class == nil then
          class = parse_class(text)
          memo.classes[text] = class
        end
        local chat
        if fresh.all or fresh.free[id] then
          searching = searching - 1
          if not class.empty then
            local chat_id, passed, passed_pool = nil, false, false
            if class.centre ~= '' then
              chat_id, passed = Q.first_chat(id, class.languages, READY .. class.centre .. ':')
            end
            if chat_id == nil and class.national then
              chat_id, passed_pool = Q.first_chat(id, class.languages, READY_POOL)
            end
            if chat_id ~= nil then
              chat = Q.load_chat(chat_id)
            elseif not (passed or passed_pool) then
              class.empty = true -- nothing offerable for anyone like them
            end
          end
        elseif #candidates > 0 then
          chat = Q.first_fresh(id, class, candidates)
        end
        if chat ~= nil then return chat, Q.load_counsellor(id) end
        memo.none[id] = true
        if not fresh.all and #candidates == 0 and searching <= 0 then return nil end
      end
    end
    if #batch < 32 then return nil end
    start = start + 32
  end
  return nil
end
