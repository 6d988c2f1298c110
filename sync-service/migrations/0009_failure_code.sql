-- A link's failure code as a column of its own, so the handler finds the creates whose answer
-- was lost by their code (equality on a typed value) instead of a pattern on the error's text.
ALTER TABLE links ADD COLUMN failure_code text;
UPDATE links SET failure_code = split_part(last_error, ': ', 2) WHERE last_error IS NOT NULL;
CREATE INDEX links_unconfirmed_creates ON links (user_id, kind)
    WHERE failure_code = 'create_unconfirmed';
