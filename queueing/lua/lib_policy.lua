-- lib_policy.lua: queueing/policy.py, events, timers and dispatch after each.
-- Part of the library; see lib.lua.

-- --- events (queueing/policy.py apply) ------------------------------------------------------

-- policy._check_membership: the centre (or nil) and the sorted languages of a registration or
-- an update, refused unless they are valid.
local function membership(ev)
  local centre = opt(ev.centre)
  if centre == nil and not ev.national then
    Q.refuse('bad_membership', 'belong to a centre, the national team or both')
  end
  if centre ~= nil then Q.check_county(centre) end
  local languages = ev.languages
  if #languages == 0 then Q.refuse('unknown_language', 'a counsellor needs a language') end
  table.sort(languages)
  for _, language in ipairs(languages) do Q.check_language(language) end
  return centre, languages
end

-- policy._update
local function update(ev, now)
  local c = Q.find_counsellor(ev.counsellor_id)
  local centre, languages = membership(ev)
  local left = c.centre
  c.centre, c.national = centre, ev.national
  c.langs, c.languages = table.concat(languages, ' '), {}
  for _, language in ipairs(languages) do c.languages[language] = true end
  Q.touch(c)
  if c.offer then
    local chat = Q.load_chat(c.offer)
    local eligible = chat.queue == c.centre
      or (c.national and (chat.queue == NATIONAL or chat.overflowed))
    if not c.languages[chat.language] or not (chat.offer.from or eligible) then
      Q.withdraw(chat, 'no_longer_eligible', now)
    end
  end
  if left ~= nil and left ~= c.centre and c.status == 'available' then
    Q.overflow_if_unstaffed(left, now)
  end
end

-- policy.apply's match, one branch per event type. Each branch checks everything before it
-- changes anything, so a refusal leaves no trace.
function Q.handle(ev, now)
  local kind = ev.type
  if kind == 'RegisterCounsellor' then
    local id = ev.counsellor_id
    if Q.load_counsellor(id) then Q.refuse('duplicate_counsellor', id .. ' exists') end
    local centre, languages = membership(ev)
    Q.check_capacity(ev.capacity)
    local c = {
      kind = 'counsellor', id = id, centre = centre, national = ev.national,
      langs = table.concat(languages, ' '), languages = {}, capacity = ev.capacity,
      auto_accept = ev.auto_accept, status = 'offline', idle_since = now, active = {},
      values = {}, entries = {},
    }
    for _, language in ipairs(languages) do c.languages[language] = true end
    counsellors[id] = c
    Q.touch(c)
  elseif kind == 'UpdateCounsellor' then
    update(ev, now)
  elseif kind == 'SetStatus' then
    local c = Q.find_counsellor(ev.counsellor_id)
    local status = ev.status
    if status ~= 'available' and status ~= 'away' and status ~= 'offline' then
      Q.refuse('bad_status', 'no status ' .. tostring(status))
    end
    if status ~= c.status then Q.set_status(c, status, 'requested', now) end
  elseif kind == 'SetCapacity' then
    local c = Q.find_counsellor(ev.counsellor_id)
    Q.check_capacity(ev.capacity)
    if ev.capacity ~= c.capacity then
      Q.emit('CounsellorCapacityChanged', 'counsellor_id', c.id, 'capacity', ev.capacity)
    end
    c.capacity = ev.capacity
    Q.touch(c)
    if c.offer and Q.n_active(c) >= ev.capacity then
      Q.withdraw(Q.load_chat(c.offer), 'capacity_lowered', now)
    end
  elseif kind == 'SetAutoAccept' then
    local c = Q.find_counsellor(ev.counsellor_id)
    c.auto_accept = ev.auto_accept
    Q.touch(c)
  elseif kind == 'CounsellorDisconnected' then
    local c = Q.find_counsellor(ev.counsellor_id)
    if c.grace_until then Q.refuse('already_disconnected', 'counsellor already in grace') end
    c.grace_until = now + settings.counsellor_grace
    Q.touch(c)
    if c.offer then Q.withdraw(Q.load_chat(c.offer), 'counsellor_disconnected', now) end
  elseif kind == 'CounsellorReconnected' then
    local c = Q.find_counsellor(ev.counsellor_id)
    Q.check_grace(c.grace_until, now)
    c.grace_until = nil
    Q.touch(c)
  elseif kind == 'ChatArrived' then
    local id = ev.chat_id
    if Q.load_chat(id) then Q.refuse('duplicate_chat', 'chat ' .. id .. ' exists') end
    local county = opt(ev.county)
    if county ~= nil then Q.check_county(county) end
    Q.check_language(ev.language)
    local chat = {
      kind = 'chat', id = id, county = county, queue = Q.route(county), language = ev.language,
      arrived_at = now, arrival_seq = Q.next_seq(), status = 'waiting', waiting_since = now,
      overflowed = false, excluded = {}, offers_made = 0, accepts = 0, values = {}, entries = {},
    }
    chats[id] = chat
    Q.touch(chat)
    Q.emit('ChatQueued', 'chat_id', id, 'queue', chat.queue)
    Q.start_waiting(chat, now)
  elseif kind == 'AcceptOffer' then
    local chat, c = Q.own_offer(ev.chat_id, ev.counsellor_id, now)
    Q.accept(chat, c, now, false)
  elseif kind == 'DeclineOffer' then
    local chat = Q.own_offer(ev.chat_id, ev.counsellor_id, now)
    Q.withdraw(chat, 'declined', now)
  elseif kind == 'SeekerLeft' then
    local chat = Q.open_chat(ev.chat_id)
    if chat.status == 'active' then
      Q.end_chat(chat, 'seeker', now)
    else
      Q.abandon(chat, 'left', now)
    end
  elseif kind == 'SeekerDisconnected' then
    local chat = Q.waiting_chat(ev.chat_id)
    if chat.grace_until then Q.refuse('already_disconnected', 'seeker already in grace') end
    chat.grace_until = now + settings.seeker_grace
    Q.touch(chat)
  elseif kind == 'SeekerReconnected' then
    local chat = Q.open_chat(ev.chat_id)
    Q.check_grace(chat.grace_until, now)
    chat.grace_until = nil
    Q.touch(chat)
  elseif kind == 'EndChat' then
    local chat = Q.own_active(ev.chat_id, ev.counsellor_id)
    Q.end_chat(chat, 'counsellor', now)
  elseif kind == 'TransferToCounsellor' then
    local chat, sender = Q.own_active(ev.chat_id, ev.counsellor_id)
    local target = Q.find_counsellor(ev.target_id)
    if target == sender then Q.refuse('transfer_to_self', 'the chat is already yours') end
    if not target.languages[chat.language] then
      Q.refuse('target_ineligible', target.id .. ' lacks ' .. chat.language)
    end
    if target.status ~= 'available' or target.grace_until ~= nil then
      Q.refuse('target_unavailable', target.id .. ' is not available')
    end
    if not Q.is_free(target) then Q.refuse('target_full', target.id .. ' has no room') end
    Q.release(chat, sender, now)
    -- Its place is the front: if the target says no, the chat is first in line for everyone else.
    chat.front_seq = Q.next_seq()
    chat.excluded = {[sender.id] = now + settings.reoffer_after}
    Q.start_waiting(chat, now)
    Q.make_offer(chat, target, now, sender.id)
  elseif kind == 'TransferToQueue' then
    local chat, c = Q.own_active(ev.chat_id, ev.counsellor_id)
    if ev.queue ~= NATIONAL then Q.check_county(ev.queue) end
    local queue = Q.route(ev.queue ~= NATIONAL and ev.queue or nil)
    chat.overflowed = false -- a new routing decision; earlier overflows stay on record
    Q.touch(chat)
    Q.requeue(chat, c, queue, 'transfer', now)
  else
    error('no event type ' .. tostring(kind), 0)
  end
end

-- --- timers and dispatch (queueing/policy.py tick, _fire, _settle) --------------------------

function Q.fire(member, at)
  local kind = string.sub(member, 1, 1)
  local nul = string.find(member, '\0', 2, true)
  local owner, who = string.sub(member, 2, nul - 1), string.sub(member, nul + 1)
  if kind == T_COUNSELLOR then
    local c = Q.load_counsellor(owner)
    c.grace_until = nil
    Q.touch(c)
    if c.status ~= 'offline' then Q.set_status(c, 'offline', 'disconnected', at) end
    return
  end
  local chat = Q.load_chat(owner)
  if kind == T_OFFER then
    local c = Q.load_counsellor(chat.offer.cid)
    Q.withdraw(chat, 'timed_out', at)
    if settings.away_on_offer_timeout == 1 and c.status == 'available' then
      Q.set_status(c, 'away', 'offer_timed_out', at)
    end
  elseif kind == T_SEEKER then
    Q.abandon(chat, 'disconnected', at)
  elseif kind == T_OVERFLOW then
    Q.overflow(chat, chat.overflow_due, at)
  else
    chat.excluded[who] = nil
    Q.touch(chat)
  end
end

-- Make every offer now possible, best pair first (policy._settle without the positions).
function Q.settle(now)
  Q.flush()
  if next(fresh.chats) == nil and next(fresh.free) == nil and not fresh.all then return end
  local memo = {none = {}, classes = {}}
  while true do
    local chat, c = Q.best_pair(memo)
    if chat == nil then break end
    Q.make_offer(chat, c, now, nil)
    Q.flush()
  end
  fresh = {chats = {}, free = {}, all = false}
end

-- policy.tick: every timer due at or before now, earliest first, each at its own due time.
function Q.tick(now)
  while true do
    Q.flush()
    local head = call('ZRANGE', K.timers, 0, 0, 'WITHSCORES')
    if #head == 0 or tonumber(head[2]) > now then break end
    Q.fire(head[1], tonumber(head[2]))
  end
  Q.settle(now)
end

-- policy.apply for one JSON-encoded event. Returns nil, or the refusal {refusal, message}.
function Q.apply_event(event_json, now)
  local ok, err = pcall(Q.handle, cjson.decode(event_json), now)
  if not ok then
    if type(err) == 'table' and err.refusal then return err end
    error(err, 0)
  end
  Q.settle(now)
  return nil
end
