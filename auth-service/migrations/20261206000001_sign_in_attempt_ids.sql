-- Each counted attempt has an id: an attempt is counted before its password is checked (so
-- parallel guesses cannot all pass the limit) and released by id when it was not a failure.
ALTER TABLE sign_in_failures ADD COLUMN id bigserial;
CREATE UNIQUE INDEX sign_in_failures_id ON sign_in_failures (id);
