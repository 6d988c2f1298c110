-- The newest connector claim seen per user, kind and side (decisions #112): a poll message of an
-- older claim is a page published late by a poller that lost its lease, and is dropped. At most
-- one row per user, kind and side.
CREATE TABLE poll_claims (
    user_id uuid   NOT NULL,
    kind    text   NOT NULL,
    side    text   NOT NULL,
    number  bigint NOT NULL,
    PRIMARY KEY (user_id, kind, side)
);
