-- Provider API calls per user and hour, for the daily call budget (Zoho charges one credit per
-- call). Kept for two days; the poll loop sums the last 24 hours.
CREATE TABLE api_calls (
    user_id uuid        NOT NULL,
    hour    timestamptz NOT NULL,
    calls   bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, hour)
);

-- Why a watch is not polling normally, for the status page: `ok`, `error`, `throttled`,
-- `budget_exhausted` or `reconnect_needed` (the user must connect the account again; nothing is
-- read or deleted meanwhile).
ALTER TABLE watches ADD COLUMN state text NOT NULL DEFAULT 'ok';
