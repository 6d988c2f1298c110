-- Every claim of a watch gets a number greater than the watch's last one, put on the round's
-- messages (decisions #112): sync-service drops a page of a claim older than the newest it has
-- seen for the user, kind and side, which only a poller whose lease another replica took over
-- can publish. The number is the claim's time in microseconds, or one more than the last claim
-- where the clock is behind it: a database restored to an earlier state, or a watch made again,
-- still claims above every number handed out before.
-- `claim_report_due`: a claim took over an expired lease, so the end of a round from it is
-- reported even if it reads nothing (that report tells sync-service the newer claim); cleared
-- by the first reported end.
ALTER TABLE watches
    ADD COLUMN claim            bigint,
    ADD COLUMN claim_report_due boolean NOT NULL DEFAULT false;
