-- The content a create of ours on each side carries (sent, in flight) or, once its answer was
-- lost, is taken to hold there (decisions #86). A read of an item no link knows is compared with
-- the links whose hash is the read's, an indexed equality, instead of every create in flight:
-- during a large first sync thousands are, and each read of one of them loaded them all.
ALTER TABLE links ADD COLUMN create_hash_outlook text, ADD COLUMN create_hash_zoho text;
-- Rows written before this migration have no hashes yet: they stay candidates of every read
-- (the domain then decides by content, as before) until they are saved again.
ALTER TABLE links ADD COLUMN hashes_stale boolean NOT NULL DEFAULT true;
ALTER TABLE links ALTER COLUMN hashes_stale SET DEFAULT false;
CREATE INDEX links_create_hash_outlook ON links (user_id, kind, create_hash_outlook)
    WHERE create_hash_outlook IS NOT NULL;
CREATE INDEX links_create_hash_zoho ON links (user_id, kind, create_hash_zoho)
    WHERE create_hash_zoho IS NOT NULL;
CREATE INDEX links_hashes_stale ON links (user_id, kind) WHERE hashes_stale;
