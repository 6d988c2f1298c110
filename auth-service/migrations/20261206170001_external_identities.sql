-- OpenID Connect sign-in: identities at external providers linked to accounts, pending flows,
-- one-time sign-in tickets and the organisation's sign-in policy.

CREATE TABLE external_identities (
    id              uuid PRIMARY KEY,
    user_id         uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The configured provider's id (`microsoft`, `google`, ...), for display.
    provider        text NOT NULL,
    -- The pair that names a person at a provider (OpenID Connect Core §5.7).
    issuer          text NOT NULL,
    subject         text NOT NULL,
    email           text,
    linked_at       timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at timestamptz,
    UNIQUE (issuer, subject)
);

CREATE INDEX external_identities_user_idx ON external_identities (user_id);

-- A sign-in begun at a provider: `state` finds it (hashed), the browser cookie ties it to the
-- browser (hashed), the PKCE verifier is sealed; the nonce travels in the URL anyway.
CREATE TABLE oidc_flows (
    state_hash      bytea PRIMARY KEY,
    provider        text NOT NULL,
    browser_hash    bytea NOT NULL,
    nonce           text NOT NULL,
    verifier_key_id text NOT NULL,
    verifier_sealed bytea NOT NULL,
    expires_at      timestamptz NOT NULL
);

-- What a finished flow hands the page: redeemed once at `POST /v1/sessions` for a session, or,
-- when the account must confirm the link first, with the account's password.
CREATE TABLE sso_tickets (
    ticket_hash   bytea PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider      text NOT NULL,
    issuer        text NOT NULL,
    subject       text NOT NULL,
    email         text,
    link_required boolean NOT NULL,
    -- The provider's `amr` (RFC 8176), recorded on the session.
    provider_amr  text[] NOT NULL,
    expires_at    timestamptz NOT NULL
);

-- One row: the organisation's sign-in policy.
CREATE TABLE sign_in_policy (
    singleton        boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    password_sign_in boolean NOT NULL DEFAULT true,
    updated_at       timestamptz NOT NULL DEFAULT now(),
    updated_by       uuid
);

INSERT INTO sign_in_policy (singleton) VALUES (true);
