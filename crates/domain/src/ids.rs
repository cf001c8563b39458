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
