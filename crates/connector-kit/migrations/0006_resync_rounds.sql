-- A full read that re-reads a scope already read (a resync) tells sync-service what it found, so
-- that what it did not find can be recognised as deleted (decisions #41): `resync_requested` is
-- set by a `poll` command with `full` until such a round begins; `round_id` names the round in
-- progress (kept across polls, like `full_read`).
ALTER TABLE watches
    ADD COLUMN resync_requested boolean NOT NULL DEFAULT false,
    ADD COLUMN round_id         uuid;
