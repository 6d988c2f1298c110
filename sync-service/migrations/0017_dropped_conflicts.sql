-- A held conflict whose link no longer holds it (the item was deleted, left the scope for good,
-- or went to another link; the links were rebuilt) is `dropped`: it no longer waits for the
-- user's choice (decision 107). The conflict log's held entries mirror `Link::held`: the link
-- statements keep them so, by link id over this partial index.
ALTER TABLE conflicts DROP CONSTRAINT conflicts_status_check;
ALTER TABLE conflicts ADD CONSTRAINT conflicts_status_check
    CHECK (status IN ('decided', 'held', 'resolved', 'dropped'));
CREATE INDEX conflicts_held ON conflicts (link_id) WHERE status = 'held';
UPDATE conflicts c SET status = 'dropped'
WHERE c.status = 'held'
  AND NOT EXISTS (SELECT 1 FROM links l
                  WHERE l.id = c.link_id
                    AND jsonb_array_length(coalesce(l.doc->'held', '[]'::jsonb)) > 0);
