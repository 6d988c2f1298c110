-- The first sync's finale in pages (decisions #83): the finales under way, one per user and
-- kind, and the steps of their plans still to settle (each a `domain::finale::Step`).
CREATE TABLE finales (
    user_id    uuid        NOT NULL,
    kind       text        NOT NULL,
    -- Steps planned in all (the sweeps' included) and settled so far: the status's progress.
    planned    bigint      NOT NULL DEFAULT 0,
    settled    bigint      NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    -- The last page: the least recently paged finale goes next (users take turns).
    paged_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, kind)
);
CREATE INDEX finales_paged ON finales (paged_at);

CREATE TABLE finale_steps (
    user_id uuid   NOT NULL,
    kind    text   NOT NULL,
    seq     bigint NOT NULL,
    step    jsonb  NOT NULL,
    PRIMARY KEY (user_id, kind, seq)
);
