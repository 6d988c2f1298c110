-- A links rebuild (admin): the first sync in progress pairs by the identities the copies carry
-- on the providers' sides, then by the first-sync keys, and creates nothing.
ALTER TABLE kind_progress ADD COLUMN rebuilding boolean NOT NULL DEFAULT false;
