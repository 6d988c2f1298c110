//! Integration tests: the sandbox started in-process on a random port, driven over HTTP.

mod conformance;
mod control;
mod faults;
mod graph_auth;
mod graph_batch;
mod graph_calendar;
mod graph_concurrency;
mod graph_contacts;
mod graph_delta;
mod graph_delta_function;
mod graph_identity;
mod graph_todo;
mod helpers;
mod oauth_flows;
mod oidc;
mod paging;
mod shapes;
mod snapshot;
mod speed;
mod zoho_activities;
mod zoho_auth;
mod zoho_identity;
mod zoho_reads;
mod zoho_writes;
