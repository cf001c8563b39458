//! Identifier newtypes: a grid id cannot be passed where a community id is expected.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id (UUIDv7), so inserts stay append-mostly in B-trees.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_type!(
    /// A district (区): runs many communities through its subdistricts.
    DistrictId
);
id_type!(
    /// A subdistrict (街道): the district's office above a handful of communities.
    SubdistrictId
);
id_type!(
    /// A community (社区): the tenant. Every tenant-owned row leads its keys with this.
    CommunityId
);
id_type!(
    /// A grid (网格): the smallest management unit inside a community.
    GridId
);
id_type!(
    /// A sign-in account. One person may hold roles in several communities.
    AccountId
);
id_type!(
    /// A co-governance zone (共治片区) grouping grids.
    ZoneId
);
id_type!(
    /// A building (楼栋).
    BuildingId
);
id_type!(
    /// A dwelling (房屋): one room number in a building.
    DwellingId
);
id_type!(
    /// A household (户) living in a dwelling.
    HouseholdId
);
id_type!(
    /// A resident (居民): a person registered in the community.
    ResidentId
);
id_type!(
    /// A comprehensive grid worker's staff record.
    StaffId
);
id_type!(
    /// An organisation: property company, owners' committee, co-building unit, merchant…
    OrganisationId
);
id_type!(
    /// A grid group (网格小组).
    GridGroupId
);
id_type!(
    /// A service point of the service circle: the centre, a station or a grid-group post.
    ServicePointId
);
id_type!(
    /// A consent record for processing sensitive personal data.
    ConsentId
);
