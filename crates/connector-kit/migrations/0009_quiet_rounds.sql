-- A delta round that read nothing is not reported to sync-service (decisions #74) unless
-- something there may wait for the end of this side's round: a command of this user and kind
-- answered since the last reported end (`answered` moves on with each one, `reported` is the
-- value the last reported round saw at its claim), or a report older than the period.
ALTER TABLE watches
    ADD COLUMN answered    bigint NOT NULL DEFAULT 0,
    ADD COLUMN reported    bigint NOT NULL DEFAULT 0,
    ADD COLUMN reported_at timestamptz;
-- Applied command ids are pruned by age (decisions #74).
CREATE INDEX applied_commands_age ON applied_commands (applied_at);
