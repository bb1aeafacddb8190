-- Chat sessions, their messages, wrap-ups, survey answers and the audit log.

CREATE TABLE chat_sessions (
    id                 uuid PRIMARY KEY,
    -- The seeker's county, or NULL when they named none (they go straight to the national queue).
    county_number      text REFERENCES counties (number),
    language           text NOT NULL,
    topic              text CHECK (length(topic) <= 200),
    state              text NOT NULL DEFAULT 'waiting'
                       CHECK (state IN ('waiting', 'offered', 'active', 'ended', 'abandoned')),
    -- The queue the chat waits or waited in: a county number or 'national'.
    queue              text NOT NULL,
    -- Only a hash of the seeker's resume token is kept; the token itself is never stored.
    resume_token_hash  bytea,
    resume_expires_at  timestamptz,
    consented_at       timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    overflowed_at      timestamptz,
    overflow_reason    text CHECK (overflow_reason IN ('waited', 'no_staff', 'closed')),
    answered_at        timestamptz,
    counsellor_id      bigint REFERENCES users (id),
    ended_at           timestamptz,
    end_reason         text,
    -- The last sequence number handed out; messages take next_seq + 1 under a row lock.
    last_seq           bigint NOT NULL DEFAULT 0
);
CREATE INDEX chat_sessions_waiting ON chat_sessions (created_at) WHERE state IN ('waiting', 'offered');
CREATE INDEX chat_sessions_created ON chat_sessions (created_at);

CREATE TABLE messages (
    chat_id         uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
    -- Per-chat order: 1, 2, 3 ... with no gaps; clients resume from the last one they saw.
    seq             bigint NOT NULL CHECK (seq >= 1),
    sender_role     text NOT NULL CHECK (sender_role IN ('seeker', 'counsellor', 'system')),
    sender_user_id  bigint REFERENCES users (id),
    -- 'note' is a counsellor's internal note, never sent to the seeker.
    kind            text NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'note', 'event')),
    -- The sender's own id for the message, so a resend after a reconnect is not stored twice.
    client_id       text CHECK (length(client_id) <= 64),
    -- NULL once retention has removed the text.
    body            text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, seq)
);
CREATE UNIQUE INDEX messages_client_id ON messages (chat_id, sender_role, client_id)
    WHERE client_id IS NOT NULL;

CREATE TABLE wrap_ups (
    chat_id       uuid PRIMARY KEY REFERENCES chat_sessions (id) ON DELETE CASCADE,
    counsellor_id bigint NOT NULL REFERENCES users (id),
    category      text NOT NULL
                  CHECK (category IN ('reflection', 'information', 'referral', 'other')),
    topics        text[] NOT NULL DEFAULT '{}',
    note          text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE survey_answers (
    chat_id    uuid PRIMARY KEY REFERENCES chat_sessions (id) ON DELETE CASCADE,
    score      smallint NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment    text CHECK (length(comment) <= 2000),
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Every sign-in, account change and staff view of a transcript. Rows are never updated.
CREATE TABLE audit_log (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at            timestamptz NOT NULL DEFAULT now(),
    actor_user_id bigint REFERENCES users (id),
    action        text NOT NULL,
    target_type   text,
    target_id     text,
    detail        jsonb NOT NULL DEFAULT '{}',
    address       inet
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_action ON audit_log (action, at);

CREATE FUNCTION audit_log_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_is_append_only();
