-- The sync-service replicas alive, each announcing itself every few seconds (decisions #51).
CREATE TABLE replicas (
    id      uuid        PRIMARY KEY,
    seen_at timestamptz NOT NULL DEFAULT now()
);

-- Which replica consumes which partition queue of changes, under a lease it renews.
CREATE TABLE partition_owners (
    partition  smallint    PRIMARY KEY,
    owner      uuid,
    expires_at timestamptz NOT NULL DEFAULT now()
);
