-- The outbox's unique index on message_id is dropped (decisions #92): no statement looks a row
-- up by it, each command's message id is new (`Uuid::now_v7`, never taken from an input), and
-- the connectors de-duplicate by command id. It cost an index entry at every insert and another
-- at the relay's update (the update cannot be HOT: `published_at` is in `outbox_unpublished`'s
-- predicate). The two indexes left are what the relay needs: `outbox_pkey` (the ids, its
-- order and its update by id) and `outbox_unpublished` (the rows still to publish, in order).
ALTER TABLE outbox DROP CONSTRAINT outbox_message_id_key;
