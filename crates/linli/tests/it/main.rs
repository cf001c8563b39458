//! Linli's integration tests: one binary (link time matters on two cores) with a module
//! per area. Store scenarios run on SQLite and PostgreSQL; HTTP tests drive a real server.

mod bad_input;
mod browser;
mod cli;
mod contract;
mod http_auth;
mod lite;
mod matrix;
mod matters;
mod mediation;
mod migrations;
mod open311;
mod outbox;
mod photos;
mod points;
mod registry;
mod registry_io;
mod resilience;
mod support;
mod volunteering;
