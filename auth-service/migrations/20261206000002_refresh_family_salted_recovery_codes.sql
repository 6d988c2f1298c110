-- Every refresh-token secret a session has retired. Presenting any of them again is a replay (the
-- token was copied), which ends the session however many rotations ago the secret was retired.
CREATE TABLE retired_refresh_secrets (
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    secret_hash bytea NOT NULL,
    retired_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session_id, secret_hash)
);
INSERT INTO retired_refresh_secrets (session_id, secret_hash)
    SELECT id, previous_secret_hash FROM sessions WHERE previous_secret_hash IS NOT NULL;
ALTER TABLE sessions DROP COLUMN previous_secret_hash;

-- Recovery codes get a random salt each: the hash is SHA-256(salt || code). Codes issued before
-- have none and are still checked as SHA-256(code), so they keep working until used or replaced.
ALTER TABLE recovery_codes ADD COLUMN salt bytea;
