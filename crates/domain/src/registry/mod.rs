//! The community registry: places (grids, buildings, dwellings), people (residents and
//! their households), staff, organisations and the service circle (DOMAIN §2–§3).
//!
//! Everything a form or a spreadsheet row carries is parsed here into types that cannot
//! hold an invalid value, so an ID number with a wrong checksum or a birth date in the
//! future never reaches storage, whichever door it came through.

mod geo;
mod identity;
mod kinds;
pub mod mask;
pub mod search;
pub mod sheet;

pub use geo::Boundary;
pub use identity::{Document, DocumentKind, IdNumber, PersonName, Phone, Uscc};
pub use kinds::{BirthDate, Gender, OrgKind, OriginRole, PartyStatus, Relation, SensitiveTag};

use thiserror::Error;

/// Why a registry value was refused. Each variant has a stable `code` that clients and the
/// spreadsheet importer report, and a message for logs and API consumers.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum RegistryRuleError {
    #[error("an ID-card number has 18 characters: 17 digits and a digit or X")]
    IdNumberFormat,
    #[error("the ID-card number's check character does not match (wrong digit?)")]
    IdNumberChecksum,
    #[error("the birth date inside the ID-card number is not a real date")]
    IdNumberBirthDate,
    #[error("a document number has 5 to 30 letters and digits")]
    DocumentNumberFormat,
    #[error("unknown document kind {0:?}")]
    UnknownDocumentKind(String),
    #[error(
        "a phone number is a mainland mobile (11 digits starting with 1) or a landline with its area code"
    )]
    PhoneFormat,
    #[error("a name has 1 to 40 characters and no control characters")]
    NameFormat,
    #[error(
        "a unified social credit code has 18 characters from 0-9 and A-Z without I, O, S, V, Z"
    )]
    UsccFormat,
    #[error("the unified social credit code's check character does not match")]
    UsccChecksum,
    #[error("a birth date must be a real date between 1900-01-01 and today")]
    BirthDateImpossible,
    #[error("the birth date does not match the one in the ID-card number")]
    BirthDateMismatch,
    #[error("the gender does not match the one in the ID-card number")]
    GenderMismatch,
    #[error("unknown {field} {value:?}")]
    UnknownValue { field: &'static str, value: String },
    #[error("a move-out date cannot come before the move-in date")]
    MoveOutBeforeMoveIn,
    #[error(
        "a boundary is a GeoJSON Polygon or MultiPolygon in longitude/latitude with closed rings, at most 10,000 points"
    )]
    BoundaryFormat,
}

impl RegistryRuleError {
    /// The stable machine code of this error (API `code`, import report `reason` key).
    pub fn code(&self) -> &'static str {
        use RegistryRuleError::*;
        match self {
            IdNumberFormat => "id_number_format",
            IdNumberChecksum => "id_number_checksum",
            IdNumberBirthDate => "id_number_birth_date",
            DocumentNumberFormat => "document_number_format",
            UnknownDocumentKind(_) => "unknown_document_kind",
            PhoneFormat => "phone_format",
            NameFormat => "name_format",
            UsccFormat => "uscc_format",
            UsccChecksum => "uscc_checksum",
            BirthDateImpossible => "birth_date_impossible",
            BirthDateMismatch => "birth_date_mismatch",
            GenderMismatch => "gender_mismatch",
            UnknownValue { .. } => "unknown_value",
            MoveOutBeforeMoveIn => "move_out_before_move_in",
            BoundaryFormat => "boundary_format",
        }
    }
}
