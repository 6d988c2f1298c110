-- What a connector polls, for whom, and where it got to. One row per user and kind.
CREATE TABLE watches (
    user_id            uuid        NOT NULL,
    kind               text        NOT NULL,
    active             boolean     NOT NULL DEFAULT true,
    -- Outlook contact folder or To Do list; NULL where the side has no container.
    container_id       text,
    poll_interval_secs integer     NOT NULL CHECK (poll_interval_secs > 0),
    -- The connector's own cursor (delta link, watermark); NULL means "start with a full read".
    cursor             jsonb,
    next_poll_at       timestamptz NOT NULL DEFAULT now(),
    -- A replica holds the lease while it polls; an expired lease may be taken over.
    lease_owner        text,
    lease_until        timestamptz,
    last_polled_at     timestamptz,
    last_error         text,
    PRIMARY KEY (user_id, kind)
);

CREATE INDEX watches_due ON watches (next_poll_at) WHERE active;

-- Apply commands already carried out, so a redelivered command is answered, not re-applied.
CREATE TABLE applied_commands (
    command_id  uuid        PRIMARY KEY,
    outcome     jsonb       NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
