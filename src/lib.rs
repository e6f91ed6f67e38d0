//! gancho: a self-hosted webhook integration hub for online-course
//! platforms. See DESIGN.md for the contract and STYLE.md for the layout.

pub mod api;
pub mod app;
pub mod catalog;
pub mod cli;
pub mod client_ip;
pub mod clock;
pub mod config;
pub mod email;
pub mod error;
pub mod http_client;
pub mod ids;
pub mod inbound;
pub mod keys;
pub mod logging;
pub mod logs;
pub mod metrics;
pub mod model;
pub mod outbound;
pub mod random;
pub mod redact;
pub mod serve;
pub mod standard_webhooks;
pub mod storage;
pub mod ui;
