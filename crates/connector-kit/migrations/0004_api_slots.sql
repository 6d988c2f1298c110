-- The per-user bound on provider requests in flight, shared by every replica (Outlook allows 4
-- concurrent requests per mailbox). One row per user and slot, made on first use; a slot is free
-- when `held_until` has passed, so the slots of a replica that died free themselves when their
-- lease (longer than any HTTP timeout) ends. `holder` names the replica and the acquisition.
CREATE TABLE api_slots (
    user_id    uuid        NOT NULL,
    slot       smallint    NOT NULL CHECK (slot >= 0),
    holder     text,
    held_until timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (user_id, slot)
);
