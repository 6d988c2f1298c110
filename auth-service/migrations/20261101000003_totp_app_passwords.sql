-- Two-factor sign-in (TOTP, recovery codes) and application-specific passwords.

CREATE TABLE totp_credentials (
    user_id        uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret_key_id  text NOT NULL,
    secret_sealed  bytea NOT NULL,
    -- NULL while the user has not yet confirmed a first code.
    enabled_at     timestamptz,
    -- The last accepted 30-second step: a code is good once.
    last_used_step bigint,
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE recovery_codes (
    user_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the normalised code (50 random bits; single use).
    code_hash bytea NOT NULL,
    used_at   timestamptz,
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE app_passwords (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    -- The first group of the password: finds the candidate rows without hashing them all.
    lookup        text NOT NULL,
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz
);

CREATE UNIQUE INDEX app_passwords_name_idx ON app_passwords (user_id, lower(name)) WHERE revoked_at IS NULL;
CREATE INDEX app_passwords_lookup_idx ON app_passwords (user_id, lookup) WHERE revoked_at IS NULL;

ALTER TABLE sessions ADD COLUMN app_password_id uuid REFERENCES app_passwords (id) ON DELETE CASCADE;
