-- A user's changes held back after one failed (decisions #58): the failed one first, then every
-- later one of the user, in order. The head is retried with backoff; after the last attempt it
-- is dead and the user blocked until an admin retries or skips it.
CREATE TABLE held_messages (
    id              bigserial   PRIMARY KEY,
    user_id         uuid        NOT NULL,
    message_id      uuid        NOT NULL UNIQUE,
    payload         bytea       NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    dead_at         timestamptz,
    held_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX held_messages_user ON held_messages (user_id, id);
