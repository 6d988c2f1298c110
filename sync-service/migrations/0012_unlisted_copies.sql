-- Links whose item on a side was made by our create and not yet listed by a read of that side
-- (decision 91): the round end of that side asks for them by id (Outlook only marks them).
CREATE INDEX links_unlisted_outlook ON links (user_id, kind)
    WHERE (doc->'outlook'->>'unlisted') = 'true';
CREATE INDEX links_unlisted_zoho ON links (user_id, kind)
    WHERE (doc->'zoho'->>'unlisted') = 'true';
