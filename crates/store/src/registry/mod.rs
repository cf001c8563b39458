//! The community registry: places (grids, buildings, dwellings, households) and the people
//! who live there. Mirrors `linli_domain::registry`.

mod grids;
pub mod organisations;
pub mod people;
pub mod places;
pub mod residents;
pub mod service;
pub mod staff;

pub use grids::*;

/// A personal value as stored: sealed (encrypted with its row bound in) and its blind
/// index for exact lookup. The store never sees the plaintext.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub enc: Vec<u8>,
    pub idx: Vec<u8>,
}

/// Rows per multi-row INSERT: well under SQLite's 32,766 bound parameters.
pub(crate) const INSERT_BATCH: usize = 500;
