-- A message's client id is unique per sender, not per side: after a transfer two counsellors
-- write in one chat, and one's id must never make the other's new message look like a resend.
-- (A seeker has no user id; coalesce makes theirs one sender.)

DROP INDEX messages_client_id;
CREATE UNIQUE INDEX messages_client_id
    ON messages (chat_id, sender_role, coalesce(sender_user_id, 0), client_id)
    WHERE client_id IS NOT NULL;
