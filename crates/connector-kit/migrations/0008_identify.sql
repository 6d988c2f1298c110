-- A links rebuild asked for the identities our copies carry: the next full read publishes every
-- item with its identity (for Outlook a plain listing with the extended property expanded,
-- which the delta queries of contacts and events cannot carry), then the flag is cleared.
ALTER TABLE watches ADD COLUMN identify boolean NOT NULL DEFAULT false;
