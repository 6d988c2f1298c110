//! Watch store tests against the real Postgres.

mod leases;
