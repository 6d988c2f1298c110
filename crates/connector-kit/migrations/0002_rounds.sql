-- A poll round may span several polls (an error between pages): remember whether the round in
-- progress is a full read and how many items it has read, for its `read_completed` message.
ALTER TABLE watches
    ADD COLUMN full_read   boolean NOT NULL DEFAULT false,
    ADD COLUMN round_items bigint  NOT NULL DEFAULT 0;
