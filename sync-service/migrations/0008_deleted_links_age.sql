-- Links marked deleted are forgotten after a retention (decisions #74): found by their age.
CREATE INDEX links_deleted_age ON links (updated_at) WHERE status = 'deleted';
