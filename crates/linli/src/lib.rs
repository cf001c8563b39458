//! The `linli` binary's parts: configuration, the demo community, and the commands.

pub mod admin;
pub mod config;
pub mod demo;
