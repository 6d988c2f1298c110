-- Every claim of a watch takes a number from one sequence and puts it, with this database's
-- source id, on the round's messages (decisions #112): sync-service drops a page of a claim
-- older than the newest it has seen for the user, kind and side, which only a poller whose
-- lease another replica took over can publish. Numbers of another source are not compared:
-- a connector given a new database starts a new source.
CREATE SEQUENCE watch_claims;
CREATE TABLE claim_source (
    id  uuid    NOT NULL,
    one boolean NOT NULL DEFAULT true PRIMARY KEY CHECK (one)
);
INSERT INTO claim_source (id) VALUES (gen_random_uuid());
-- `claim`: the number of the watch's current claim. `claim_report_due`: a claim took over an
-- expired lease, so the end of a round from it is reported even if it reads nothing (that
-- report tells sync-service the newer claim); cleared by the first reported end.
ALTER TABLE watches
    ADD COLUMN claim            bigint,
    ADD COLUMN claim_report_due boolean NOT NULL DEFAULT false;
