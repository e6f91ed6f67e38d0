//! gancho's integration tests: one binary, one module per capability, each
#![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
//! test driving the real server over loopback HTTP on a fresh SQLite file.

mod api;
mod asaas;
mod bad_input;
mod cli;
mod config_cache;
mod counters;
mod crash;
mod dry_run;
mod faults;
mod fixtures;
mod helpers;
mod hostile;
mod instances;
mod isolation;
mod ledger;
mod ledger_order;
mod logs;
mod outbound;
mod properties;
mod request_id;
mod slow_clients;
mod sources;
mod storage_story;
mod stripe;
mod students;
mod ui;
