-- restore.lua: write a routing state into empty routing keys and build every index from it
-- with the same code the transitions use, so a rebuilt state routes exactly like a live one.
-- Loaded after the library (lib.lua and the files it lists); the adapter clears the keys and
-- writes the config first.
-- KEYS[1..20]  the routing keys, as listed in lib.lua (keys.RoutingKeys.script_keys())
-- ARGV[1]  the state as JSON (queueing.redis_state.encode_state): {"seq": n, "counters":
--          {field: value}, "answer_waits": [value], "answers": [[at, queue, overflowed]],
--          "counsellors": {id: {field: value}}, "chats": {id: {field: value}}}, hash fields and
--          values exactly as stored.
-- Returns "OK".
local state = cjson.decode(ARGV[1])
Q.read_settings()
-- The next call dispatches whatever it does: offers may be possible in the restored state.
call('HSET', K.meta, 'seq', state.seq, 'unsettled', '1')
for field, value in pairs(state.counters) do call('HSET', K.counters, field, value) end
local waits = state.answer_waits
for first = 1, #waits, 1000 do
  call('RPUSH', K.answer_waits, unpack(waits, first, math.min(first + 999, #waits)))
end
for _, answer in ipairs(state.answers) do
  Q.record_answer(tonumber(answer[1]), answer[2], answer[3])
end
local function write(prefix, id, fields, decode, entries)
  local flat = {}
  for name, value in pairs(fields) do
    flat[#flat + 1] = name
    flat[#flat + 1] = value
  end
  call('HSET', prefix .. id, unpack(flat))
  Q.sync({}, entries(decode(id, fields)))
end
for id, fields in pairs(state.counsellors) do
  write(K.counsellor, id, fields, Q.decode_counsellor, Q.counsellor_entries)
end
for id, fields in pairs(state.chats) do
  write(K.chat, id, fields, Q.decode_chat, Q.chat_entries)
end
return 'OK'
