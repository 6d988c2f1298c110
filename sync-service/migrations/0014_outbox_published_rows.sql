-- The relay deletes the rows it publishes, in the transaction that publishes them (decision 99),
-- instead of marking them: an outbox row is only ever a command still to publish. Rows marked
-- published by an earlier version are history only and go now; `published_at` stays, unused by
-- this version, so that a replica of the previous version still running during an upgrade keeps
-- working (the relay leaves its marked rows alone, the hourly prune deletes them).
-- `outbox_unpublished` is dropped: every row is one to publish, so the primary key gives the
-- relay its order, and each insert writes one index entry instead of two.
DELETE FROM outbox WHERE published_at IS NOT NULL;
DROP INDEX outbox_unpublished;
