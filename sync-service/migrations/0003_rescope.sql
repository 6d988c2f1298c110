-- A settings change that changes what syncs (a re-scope) reopens the kind's first sync; only the
-- full reads tagged with its id count towards it. `rescope_reason` tells the status page a first
-- sync from a settings change.
ALTER TABLE kind_progress
    ADD COLUMN rescope_id     uuid,
    ADD COLUMN rescope_reason text NOT NULL DEFAULT 'first_sync';
