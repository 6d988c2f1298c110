-- The engine keeps each link as a document (the domain `Link`), with the columns it looks
-- links up by. The skeleton's links table had no production data yet.
DROP TABLE links;
CREATE TABLE links (
    id          uuid        PRIMARY KEY,
    user_id     uuid        NOT NULL,
    kind        text        NOT NULL,
    outlook_id  text,
    zoho_id     text,
    status      text        NOT NULL,
    -- The side whose delete is staged or held (mass-delete guard).
    deleted_by  text,
    doc         jsonb       NOT NULL,
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX links_outlook ON links (user_id, kind, outlook_id) WHERE outlook_id IS NOT NULL;
CREATE UNIQUE INDEX links_zoho ON links (user_id, kind, zoho_id) WHERE zoho_id IS NOT NULL;
CREATE INDEX links_status ON links (user_id, kind, status);

-- Per user and kind: the first sync's progress and the last poll rounds.
CREATE TABLE kind_progress (
    user_id          uuid        NOT NULL,
    kind             text        NOT NULL,
    outlook_full_at  timestamptz,
    zoho_full_at     timestamptz,
    outlook_items    bigint      NOT NULL DEFAULT 0,
    zoho_items       bigint      NOT NULL DEFAULT 0,
    first_sync_done  boolean     NOT NULL DEFAULT false,
    outlook_read_at  timestamptz,
    zoho_read_at     timestamptz,
    PRIMARY KEY (user_id, kind)
);

-- Every conflict, with the base and both values; `held` ones wait for the user (review mode).
CREATE TABLE conflicts (
    id          bigserial   PRIMARY KEY,
    user_id     uuid        NOT NULL,
    link_id     uuid        NOT NULL,
    kind        text        NOT NULL,
    label       text        NOT NULL,
    field       text        NOT NULL,
    base        jsonb,
    outlook     jsonb,
    zoho        jsonb,
    rule        text        NOT NULL,
    winner      text,
    status      text        NOT NULL CHECK (status IN ('decided', 'held', 'resolved')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at timestamptz
);
CREATE INDEX conflicts_user ON conflicts (user_id, created_at DESC);

-- Messages the consumers refused, copied off the dead-letter queue for the admin API.
CREATE TABLE dead_letters (
    id          bigserial   PRIMARY KEY,
    routing_key text        NOT NULL,
    payload     bytea       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);

-- A new item read on a side where one of our creates with the same content is still in flight:
-- it is our own create read back, or a user's twin of it. Parked until the create's result says
-- which, so it is neither duplicated nor wrongly linked.
CREATE TABLE parked_changes (
    id          bigserial   PRIMARY KEY,
    user_id     uuid        NOT NULL,
    kind        text        NOT NULL,
    side        text        NOT NULL,
    external_id text        NOT NULL,
    version     text        NOT NULL,
    item        jsonb       NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX parked_changes_user ON parked_changes (user_id, kind, side);
