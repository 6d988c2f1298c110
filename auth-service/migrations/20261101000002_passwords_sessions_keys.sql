-- Sign-in: password hashes (Argon2id PHC strings), refresh sessions, token signing keys and the
-- sign-in throttle.

ALTER TABLE users
    ADD COLUMN password_hash text,
    ADD COLUMN is_admin      boolean NOT NULL DEFAULT false,
    ADD COLUMN disabled_at   timestamptz;

CREATE TABLE sessions (
    id                   uuid PRIMARY KEY,
    user_id              uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the refresh token's secret part (the secret is 256 random bits; a slow hash
    -- adds nothing). The previous one is kept to detect a replayed, already rotated token.
    secret_hash          bytea NOT NULL,
    previous_secret_hash bytea,
    long_lived           boolean NOT NULL,
    -- How the user signed in (JWT `amr`): pwd, otp, recovery_code, app_password.
    amr                  text[] NOT NULL,
    user_agent           text,
    created_at           timestamptz NOT NULL DEFAULT now(),
    last_used_at         timestamptz NOT NULL DEFAULT now(),
    expires_at           timestamptz NOT NULL,
    revoked_at           timestamptz
);

CREATE INDEX sessions_user_active_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- Ed25519 keys that sign access tokens; the private half sealed like every other secret.
CREATE TABLE signing_keys (
    kid                text PRIMARY KEY,
    algorithm          text NOT NULL,
    public_key         bytea NOT NULL,
    private_key_key_id text NOT NULL,
    private_key_sealed bytea NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now(),
    -- Signs new tokens until then.
    active_until       timestamptz NOT NULL,
    -- Published in the JWKS until then (after the last token it signed has expired).
    publish_until      timestamptz NOT NULL
);

-- Failed sign-ins per account, for throttling across replicas.
CREATE TABLE sign_in_failures (
    email_key text NOT NULL,
    failed_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sign_in_failures_idx ON sign_in_failures (email_key, failed_at);
