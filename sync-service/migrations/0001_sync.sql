-- Per-user sync settings (validated by the service before they are stored).
CREATE TABLE user_settings (
    user_id    uuid        PRIMARY KEY,
    settings   jsonb       NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The pairing of an Outlook item with a Zoho record and the merge base: the content both sides
-- held after the last sync.
CREATE TABLE links (
    id              uuid        PRIMARY KEY,
    user_id         uuid        NOT NULL,
    kind            text        NOT NULL,
    outlook_id      text,
    outlook_version text,
    zoho_id         text,
    zoho_version    text,
    base            jsonb       NOT NULL,
    base_hash       text        NOT NULL,
    status          text        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'deleted')),
    -- The last write that failed on one side, with the provider's error code.
    failed_side     text,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (outlook_id IS NOT NULL OR zoho_id IS NOT NULL)
);
CREATE UNIQUE INDEX links_outlook ON links (user_id, kind, outlook_id) WHERE outlook_id IS NOT NULL;
CREATE UNIQUE INDEX links_zoho ON links (user_id, kind, zoho_id) WHERE zoho_id IS NOT NULL;

-- Messages already handled: the consumer's de-duplication (at-least-once in, exactly-once effect).
CREATE TABLE processed_messages (
    message_id   uuid        PRIMARY KEY,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- Commands decided but not yet published; written in the decision's transaction.
CREATE TABLE outbox (
    id           bigserial   PRIMARY KEY,
    message_id   uuid        NOT NULL UNIQUE,
    user_id      uuid        NOT NULL,
    payload      jsonb       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
