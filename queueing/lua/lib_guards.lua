-- lib_guards.lua: queueing/guards.py, refusals raised before anything changes.
-- Part of the library; see lib.lua. A refusal is a Lua error carrying {refusal, message}, which
-- Q.apply_event turns into the script's reply.

function Q.refuse(code, message)
  error({refusal = code, message = message}, 0)
end

function Q.find_counsellor(id)
  local c = Q.load_counsellor(id)
  if c == nil then Q.refuse('unknown_counsellor', 'no counsellor ' .. id) end
  return c
end

function Q.open_chat(id)
  local chat = Q.load_chat(id)
  if chat == nil then Q.refuse('unknown_chat', 'no chat ' .. id) end
  if chat.status == 'ended' or chat.status == 'abandoned' then
    Q.refuse('chat_closed', 'chat ' .. id .. ' is ' .. chat.status)
  end
  return chat
end

function Q.waiting_chat(id)
  local chat = Q.open_chat(id)
  if chat.status ~= 'waiting' and chat.status ~= 'offered' then
    Q.refuse('not_waiting', 'chat ' .. id .. ' is ' .. chat.status)
  end
  return chat
end

function Q.own_active(chat_id, counsellor_id)
  local chat = Q.open_chat(chat_id)
  local c = Q.find_counsellor(counsellor_id)
  if chat.status ~= 'active' then
    Q.refuse('not_active', 'chat ' .. chat_id .. ' is ' .. chat.status)
  end
  if chat.counsellor_id ~= counsellor_id then Q.refuse('not_your_chat', 'not your chat') end
  return chat, c
end

function Q.own_offer(chat_id, counsellor_id, now)
  local chat = Q.open_chat(chat_id)
  local c = Q.find_counsellor(counsellor_id)
  if chat.status == 'active' then
    if chat.counsellor_id == counsellor_id then Q.refuse('already_accepted', 'already yours') end
    Q.refuse('offer_not_yours', 'the chat went to someone else')
  end
  if chat.offer == nil then Q.refuse('no_offer', 'the chat is not offered to anyone') end
  if chat.offer.cid ~= counsellor_id then Q.refuse('offer_not_yours', 'offered to another') end
  if now >= chat.offer.deadline then Q.refuse('offer_expired', 'the offer has expired') end
  return chat, c
end

function Q.check_county(county)
  if not Q.cfg('centre:' .. county) then Q.refuse('unknown_county', 'no centre ' .. county) end
end

function Q.check_language(language)
  if not Q.cfg('lang:' .. language) then
    Q.refuse('unknown_language', 'language ' .. language .. ' is not served')
  end
end

function Q.check_capacity(capacity)
  if type(capacity) ~= 'number' or capacity < settings.min_capacity
      or capacity > settings.max_capacity then
    Q.refuse('bad_capacity', 'capacity out of range')
  end
end

function Q.check_grace(grace_until, now)
  if grace_until == nil then Q.refuse('not_disconnected', 'not disconnected') end
  if now >= grace_until then Q.refuse('grace_expired', 'the grace time has passed') end
end
