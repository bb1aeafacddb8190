-- Counties, career centres, staff accounts and opening hours.

-- The 15 counties in force since 1 January 2024, by their official numbers.
CREATE TABLE counties (
    number      text PRIMARY KEY CHECK (number ~ '^[0-9]{2}$'),
    name        text NOT NULL UNIQUE,
    -- Official names in Sami and Kven where the county has them.
    other_names text[] NOT NULL DEFAULT '{}'
);

-- One career centre per county, plus the national team (id 'national'), which serves them all.
CREATE TABLE centres (
    id               text PRIMARY KEY,
    county_number    text UNIQUE REFERENCES counties (number),
    name             text NOT NULL,
    -- How long a chat waits for this centre before the national team may take it too.
    overflow_seconds integer NOT NULL DEFAULT 90 CHECK (overflow_seconds BETWEEN 0 AND 3600),
    CHECK ((id = 'national' AND county_number IS NULL) OR id = county_number)
);

CREATE TABLE users (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9][a-z0-9._-]{1,62}$'),
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    role          text NOT NULL CHECK (role IN ('counsellor', 'supervisor', 'admin')),
    password_hash text NOT NULL,
    national_team boolean NOT NULL DEFAULT false,
    languages     text[] NOT NULL DEFAULT '{nb}' CHECK (cardinality(languages) >= 1),
    -- Concurrent chats; a supervisor may change it at any time.
    capacity      smallint NOT NULL DEFAULT 2 CHECK (capacity BETWEEN 1 AND 10),
    disabled      boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- County centres a user works for; the national team is the flag on users, not a membership.
CREATE TABLE centre_memberships (
    user_id   bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    centre_id text NOT NULL REFERENCES centres (id) CHECK (centre_id <> 'national'),
    PRIMARY KEY (user_id, centre_id)
);
CREATE INDEX centre_memberships_centre ON centre_memberships (centre_id);

-- Weekly opening hours in Norwegian local time; ISO weekdays (1 = Monday). A centre is closed on
-- Norwegian public holidays whatever this table says.
CREATE TABLE opening_hours (
    centre_id text NOT NULL REFERENCES centres (id) ON DELETE CASCADE,
    weekday   smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    opens     time NOT NULL,
    closes    time NOT NULL,
    PRIMARY KEY (centre_id, weekday, opens),
    CHECK (opens < closes)
);
