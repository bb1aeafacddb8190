-- Canned replies: short texts a counsellor inserts into a chat and edits before sending. Each
-- centre keeps its own (the national team's under 'national'), in the languages it chats in.

CREATE TABLE canned_replies (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    centre_id  text NOT NULL REFERENCES centres (id) ON DELETE CASCADE,
    -- What the counsellor picks it by; unique per centre and language, so a seed runs twice safely.
    title      text NOT NULL CHECK (length(title) BETWEEN 1 AND 100),
    -- At most a chat message's length (chat.frames.MAX_TEXT_CHARS).
    body       text NOT NULL CHECK (length(body) BETWEEN 1 AND 4000),
    language   text NOT NULL CHECK (language ~ '^[a-z]{2,3}$'),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (centre_id, language, title)
);
