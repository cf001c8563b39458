//! Linli's domain: the types and rules of an acquaintance community, free of I/O.
//!
//! Everything a request carries is parsed into these types at the edge, so the layers
//! below never see an unchecked username, password or role name.

pub mod auth;
pub mod engagement;
pub mod ids;
pub mod locale;
pub mod matters;
pub mod mediation;
pub mod points;
pub mod registry;
pub mod volunteering;

pub use ids::{
    AccountId, BuildingId, CommunityId, ConsentId, DistrictId, DwellingId, GridGroupId, GridId,
    HouseholdId, OrganisationId, ResidentId, ServicePointId, StaffId, SubdistrictId, ZoneId,
};
