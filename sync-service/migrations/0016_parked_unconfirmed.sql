-- A parked read that a windowed re-read of its side (Outlook's calendar) did not list since it
-- was parked (decision 102): its item may have been deleted unannounced, so it is asked for by
-- id before it is copied. A read of the item clears the mark; reads parked before are as before.
ALTER TABLE parked_changes ADD COLUMN unconfirmed boolean NOT NULL DEFAULT false;
