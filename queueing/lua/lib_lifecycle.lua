-- lib_lifecycle.lua: queueing/lifecycle.py, the primitive moves of chats and counsellors.
-- Part of the library; see lib.lua. Each changes objects in memory and touches them; they are
-- written at the next flush.

function Q.start_waiting(chat, now)
  chat.status, chat.waiting_since = 'waiting', now
  chat.overflow_at, chat.overflow_due = nil, nil
  Q.touch(chat)
  Q.count_waiting(chat.queue, 1)
  if chat.queue == NATIONAL or chat.overflowed then return end
  if closed[chat.queue] then
    Q.overflow(chat, 'closed', now)
  elseif not Q.staff_present(chat.queue) then
    Q.overflow(chat, 'no_staff', now)
  else
    chat.overflow_at = now + tonumber(Q.cfg('centre:' .. chat.queue))
    chat.overflow_due = 'waited'
    local closing = closes[chat.queue]
    if closing ~= nil and closing <= chat.overflow_at then
      chat.overflow_at, chat.overflow_due = closing, 'closed'
    end
    Q.touch(chat) -- again: staff_present flushed it
  end
end

function Q.overflow(chat, reason, at)
  chat.overflowed = true
  chat.overflow_at, chat.overflow_due = nil, nil
  local entry = fmt(at) .. ' ' .. reason
  chat.overflows = chat.overflows and (chat.overflows .. ';' .. entry) or entry
  Q.touch(chat)
  local waited = at - chat.waiting_since
  Q.count('overflowed:' .. reason)
  Q.add('overflow_wait_sum:' .. reason, waited)
  Q.emit('ChatOverflowed', 'chat_id', chat.id, 'queue', chat.queue, 'reason', reason,
    'waited', waited)
end

function Q.overflow_if_unstaffed(county, now)
  if Q.staff_present(county) then return end
  for _, id in ipairs(call('ZRANGE', K.fresh .. county, 0, -1)) do
    Q.overflow(Q.load_chat(id), 'no_staff', now)
  end
end

function Q.make_offer(chat, c, now, from)
  local deadline = now + settings.offer_timeout
  chat.status = 'offered'
  chat.offer = {cid = c.id, deadline = deadline, from = from}
  chat.offers_made = chat.offers_made + 1
  c.offer = chat.id
  Q.touch(chat)
  Q.touch(c)
  Q.count('offers_made')
  Q.emit('OfferMade', 'chat_id', chat.id, 'counsellor_id', c.id, 'deadline', deadline,
    'transferred_from', from)
  if c.auto_accept then Q.accept(chat, c, now, true) end
end

function Q.accept(chat, c, now, auto)
  chat.status, chat.offer, chat.counsellor_id = 'active', nil, c.id
  chat.overflow_at, chat.overflow_due, chat.grace_until = nil, nil, nil
  chat.excluded = {}
  chat.accepts = chat.accepts + 1
  c.offer = nil
  c.active[chat.id] = true
  Q.touch(chat)
  Q.touch(c)
  Q.count('offers_accepted')
  Q.count_waiting(chat.queue, -1)
  local waited = now - chat.waiting_since
  if chat.first_answered_at == nil then
    chat.first_answered_at = now
    Q.count('answered')
    Q.add('answer_wait_sum', waited)
    call('RPUSH', K.answer_waits, fmt(waited))
  end
  Q.record_answer(now, chat.queue, chat.overflowed)
  Q.emit('ChatAssigned', 'chat_id', chat.id, 'counsellor_id', c.id, 'waited', waited,
    'auto_accepted', auto)
end

function Q.withdraw(chat, reason, now)
  local c = Q.load_counsellor(chat.offer.cid)
  chat.status, chat.offer = 'waiting', nil
  c.offer = nil
  Q.touch(chat)
  Q.touch(c)
  if reason == 'declined' or reason == 'timed_out' then
    chat.excluded[c.id] = now + settings.reoffer_after
    Q.count(reason == 'declined' and 'offers_declined' or 'offers_timed_out')
  else
    Q.count('offers_withdrawn')
  end
  Q.emit('OfferWithdrawn', 'chat_id', chat.id, 'counsellor_id', c.id, 'reason', reason)
end

function Q.abandon(chat, reason, at)
  if chat.offer then Q.withdraw(chat, 'seeker_left', at) end
  chat.status = 'abandoned'
  chat.overflow_at, chat.overflow_due, chat.grace_until = nil, nil, nil
  chat.excluded = {}
  chat.closed_at = at
  Q.touch(chat)
  Q.count_waiting(chat.queue, -1)
  local waited = at - chat.waiting_since
  Q.count('abandoned')
  Q.add('abandon_wait_sum', waited)
  Q.emit('ChatAbandoned', 'chat_id', chat.id, 'waited', waited, 'reason', reason)
end

function Q.release(chat, c, now)
  c.active[chat.id] = nil
  c.idle_since = now
  chat.counsellor_id = nil
  Q.touch(chat)
  Q.touch(c)
end

function Q.end_chat(chat, by, now)
  local c = Q.load_counsellor(chat.counsellor_id)
  c.active[chat.id] = nil
  c.idle_since = now
  chat.status = 'ended' -- counsellor_id stays, for the record
  chat.closed_at = now
  Q.touch(chat)
  Q.touch(c)
  Q.count('ended')
  Q.emit('ChatEnded', 'chat_id', chat.id, 'counsellor_id', c.id, 'by', by)
end

function Q.requeue(chat, c, queue, reason, now)
  Q.release(chat, c, now)
  chat.queue = queue
  chat.front_seq = Q.next_seq()
  chat.excluded = {}
  if reason == 'transfer' then chat.excluded[c.id] = now + settings.reoffer_after end
  Q.count('requeued')
  Q.emit('ChatRequeued', 'chat_id', chat.id, 'queue', queue, 'from_counsellor', c.id,
    'reason', reason)
  Q.start_waiting(chat, now)
end

function Q.set_status(c, status, reason, now)
  local was = c.status
  c.status = status
  Q.touch(c)
  Q.emit('CounsellorStatusChanged', 'counsellor_id', c.id, 'status', status, 'reason', reason)
  if status == 'available' then
    c.idle_since = now
    return
  end
  if c.offer then
    local why = status == 'away' and 'counsellor_away' or 'counsellor_offline'
    Q.withdraw(Q.load_chat(c.offer), why, now)
  end
  if status == 'offline' then
    c.grace_until = nil
    local mine = {}
    for id in pairs(c.active) do mine[#mine + 1] = Q.load_chat(id) end
    table.sort(mine, function(a, b) return Q.place(a) < Q.place(b) end)
    for _, chat in ipairs(mine) do Q.requeue(chat, c, chat.queue, 'counsellor_left', now) end
  end
  if was == 'available' and c.centre then Q.overflow_if_unstaffed(c.centre, now) end
end
