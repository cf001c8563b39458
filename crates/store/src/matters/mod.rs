//! Matters: the category catalogue, the working calendar, the matters themselves with
//! their timeline, and the inbox. Mirrors `linli_domain::matters`.

pub mod calendar;
pub mod categories;
pub mod history;
pub mod inbox;
pub mod pg_reports;
pub mod photos;
pub mod records;
pub mod supervision;

pub use records::*;
