-- A change of scope (new folder or list, another calendar filter, a kind switched on again) asks
-- for a full read tagged with its id. `generation` moves on with every such request, so a round
-- of the old scope still under way cannot save its cursor over the reset one; `rescope` is the
-- latest request's id, `round_rescope` the id the round in progress carries.
ALTER TABLE watches
    ADD COLUMN generation    bigint NOT NULL DEFAULT 0,
    ADD COLUMN rescope       uuid,
    ADD COLUMN round_rescope uuid;
