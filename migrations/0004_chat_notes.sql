-- Internal notes get a table of their own: kept out of the message sequence, a seeker's
-- sequence numbers have no gaps that would give away that notes were written.

CREATE TABLE chat_notes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat_id    uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    author_id  bigint NOT NULL REFERENCES users (id),
    client_id  text CHECK (length(client_id) <= 64),
    -- NULL once retention has removed the text.
    body       text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX chat_notes_chat ON chat_notes (chat_id, id);
CREATE UNIQUE INDEX chat_notes_client_id ON chat_notes (chat_id, author_id, client_id)
    WHERE client_id IS NOT NULL;

ALTER TABLE messages DROP CONSTRAINT messages_kind_check;
ALTER TABLE messages ADD CONSTRAINT messages_kind_check CHECK (kind IN ('message', 'event'));
