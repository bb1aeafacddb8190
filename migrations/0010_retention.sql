-- Retention: the words of a chat are purged a configured number of days after it ended
-- (`eguide purge`, and the server daily). The row stays for reports (times, county, queue,
-- routing, survey score, wrap-up category and topics); message and note rows stay with their
-- text NULL, so counts and times still add up. `purged_at` says when, so a purge run finds only
-- chats it has not purged yet, and nothing is appended to a purged chat afterwards.

ALTER TABLE chat_sessions ADD COLUMN purged_at timestamptz;

-- The chats a purge run looks at: not purged yet, oldest end (or start, for a chat the record
-- never saw close) first.
CREATE INDEX chat_sessions_unpurged ON chat_sessions ((coalesce(ended_at, created_at)))
    WHERE purged_at IS NULL;
