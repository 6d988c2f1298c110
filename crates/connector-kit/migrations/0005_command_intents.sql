-- Apply commands whose write has begun and whose outcome is not recorded yet. A command found
-- here when it is delivered again may have been written by the attempt that crashed: the
-- connector then looks for the first copy (by the link's identity kept on the provider's side)
-- before it creates anything. The row goes when the outcome is recorded.
CREATE TABLE command_intents (
    command_id  uuid        PRIMARY KEY,
    attempts    integer     NOT NULL DEFAULT 1,
    begun_at    timestamptz NOT NULL DEFAULT now()
);
