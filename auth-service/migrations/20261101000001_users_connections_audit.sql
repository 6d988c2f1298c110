-- The auth schema: users, their provider connections (tokens encrypted at rest) and the audit log
-- of security events. The pool's search_path points at the service's own schema.

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL,
    -- Lower-cased e-mail; uniqueness is case-insensitive.
    email_key     text NOT NULL UNIQUE,
    display_name  text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE provider_connections (
    user_id                 uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider                text NOT NULL CHECK (provider IN ('outlook', 'zoho')),
    status                  text NOT NULL CHECK (status IN ('connected', 'reconnect_needed')),
    status_reason           text,
    -- Zoho only: the data centre whose accounts server issued the token.
    data_centre             text,
    -- Outlook only: the Microsoft identity platform tenant (common, organizations, ... or an id).
    tenant                  text,
    -- Secrets: AES-256-GCM, nonce || ciphertext, with the id of the key that sealed them.
    refresh_token_key_id    text NOT NULL,
    refresh_token_sealed    bytea NOT NULL,
    access_token_key_id     text,
    access_token_sealed     bytea,
    access_token_expires_at timestamptz,
    api_domain              text,
    connected_at            timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    last_refresh_at         timestamptz,
    PRIMARY KEY (user_id, provider)
);

-- Security events. Never holds a secret: only ids, the kind of event and non-secret details.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    user_id     uuid,
    event       text NOT NULL,
    provider    text,
    detail      jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_log_user_idx ON audit_log (user_id, occurred_at);
