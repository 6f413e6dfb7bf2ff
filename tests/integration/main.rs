//! The one integration-test binary: every area a module, every test on SQLite and on
//! PostgreSQL through `crate::common::on_both_databases!`, browser tests in headless Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may panic on the unexpected
#![allow(dead_code)] // support code is shared by modules that each use part of it

mod common;
mod database;
mod ports;

mod broadcasts;
mod browser;
mod cli;
mod concurrency;
mod coverage;
mod foundation;
mod indexes;
mod instances;
mod labels;
mod layering;
mod live;
mod notifications;
mod operations;
mod outage;
mod oversight;
mod paging;
mod privacy;
mod queries;
mod quick_replies;
mod reports;
mod reviews;
mod roles_channels;
mod routing;
mod teams;
mod two_factor;
mod users;
mod workspace;
