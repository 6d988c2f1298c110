-- Per user, kind and side: the last successful write (a command the provider applied), beside the
-- last read, so that the status shows each side's own activity; and when the first sync (or a
-- re-scope) completed, so that "first sync complete" is said only while it is news.
ALTER TABLE kind_progress
    ADD COLUMN outlook_written_at timestamptz,
    ADD COLUMN zoho_written_at    timestamptz,
    ADD COLUMN first_sync_done_at timestamptz;
