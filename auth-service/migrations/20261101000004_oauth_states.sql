-- Pending OAuth authorization-code flows (PKCE). A row lives ten minutes and is used once.

CREATE TABLE oauth_states (
    -- SHA-256 of the `state` parameter: the row is found by it, the state itself is not stored.
    state_hash        bytea PRIMARY KEY,
    user_id           uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider          text NOT NULL CHECK (provider IN ('outlook', 'zoho')),
    data_centre       text,
    tenant            text,
    -- SHA-256 of the cookie set in the browser that started the flow: only that browser can
    -- finish it, so nobody can attach their provider account to someone else's user.
    browser_hash      bytea NOT NULL,
    verifier_key_id   text NOT NULL,
    verifier_sealed   bytea NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL
);

CREATE INDEX oauth_states_expiry_idx ON oauth_states (expires_at);
