-- Where each chat stands in the routing record. The routing effects stream is recorded by
-- several instances at once, so a chat's state keeps the stream position of the entry that
-- last set it and an older entry never overwrites a newer one.

ALTER TABLE chat_sessions ADD COLUMN routing_entry numeric(30, 0) NOT NULL DEFAULT 0;

-- Every routing step of every chat, for reports and audits of how a chat was handled.
CREATE TABLE routing_events (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id       uuid REFERENCES chat_sessions (id) ON DELETE CASCADE,
    counsellor_id bigint REFERENCES users (id),
    kind          text NOT NULL,
    detail        jsonb NOT NULL DEFAULT '{}',
    at            timestamptz NOT NULL,
    -- The stream entry it came from, so a replayed entry is recorded once.
    entry         numeric(30, 0) NOT NULL,
    position      smallint NOT NULL,
    UNIQUE (entry, position)
);
CREATE INDEX routing_events_chat ON routing_events (chat_id, at);
CREATE INDEX routing_events_at ON routing_events (at);
