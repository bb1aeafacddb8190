-- A seeker may delete their conversation at once. The chat row stays for reports (times, county,
-- queue, routing, survey score, wrap-up category and topics) but keeps none of its words: its
-- messages and internal notes are deleted, the free texts around it are emptied, the resume token
-- stops opening it, and `deleted_at` says when, so nothing is appended to it afterwards.

ALTER TABLE chat_sessions ADD COLUMN deleted_at timestamptz;
