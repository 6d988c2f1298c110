-- When the provider last changed a parked read's item (decision 100): orders it against the
-- reads and write answers that come after it. Reads parked by an earlier version have none and
-- order nothing, as before.
ALTER TABLE parked_changes ADD COLUMN modified timestamptz;
