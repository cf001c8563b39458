//! Table and column names for sea-query, one enum per table, matching the migrations.

use sea_query::Iden;

#[derive(Iden, Clone, Copy)]
pub enum Districts {
    Table,
    Id,
    Code,
    Name,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum Subdistricts {
    Table,
    Id,
    DistrictId,
    Code,
    Name,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum Communities {
    Table,
    Id,
    SubdistrictId,
    Code,
    Name,
    TimeZone,
    TotpRequired,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum Grids {
    Table,
    CommunityId,
    Id,
    Code,
    Name,
    Boundary,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum Accounts {
    Table,
    Id,
    Username,
    DisplayName,
    PasswordHash,
    Locale,
    HomeCommunityId,
    TotpSecretEnc,
    TotpEnabled,
    TotpLastStep,
    DisabledAt,
    PasswordChangedAt,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum RoleGrants {
    Table,
    CommunityId,
    AccountId,
    Role,
    GrantedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum RoleGrantGrids {
    Table,
    CommunityId,
    AccountId,
    Role,
    GridId,
}

#[derive(Iden, Clone, Copy)]
pub enum DistrictAdmins {
    Table,
    DistrictId,
    AccountId,
    GrantedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum Sessions {
    Table,
    TokenHash,
    AccountId,
    Kind,
    CsrfToken,
    CreatedAt,
    LastSeenAt,
    ExpiresAt,
    RevokedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum LoginThrottle {
    Table,
    ThrottleKey,
    Failures,
    WindowStartedAt,
    LockedUntil,
}

#[derive(Iden, Clone, Copy)]
pub enum AuditChainHeads {
    Table,
    CommunityId,
    Seq,
    Hash,
}

#[derive(Iden, Clone, Copy)]
pub enum AuditLog {
    Table,
    CommunityId,
    Seq,
    At,
    ActorAccountId,
    ActorIp,
    RequestId,
    Action,
    ObjectType,
    ObjectId,
    Outcome,
    Detail,
    PrevHash,
    Hash,
}

#[derive(Iden, Clone, Copy)]
pub enum Buildings {
    Table,
    CommunityId,
    Id,
    Code,
    Name,
    Address,
    AddressCode,
    Floors,
    GridId,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum BuildingGrids {
    Table,
    CommunityId,
    BuildingId,
    GridId,
    ValidFrom,
    ValidTo,
}

#[derive(Iden, Clone, Copy)]
pub enum Dwellings {
    Table,
    CommunityId,
    Id,
    BuildingId,
    Room,
    AddressCode,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum Households {
    Table,
    CommunityId,
    Id,
    DwellingId,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum HouseholdMembers {
    Table,
    CommunityId,
    HouseholdId,
    ResidentId,
    Relation,
    MovedIn,
    MovedOut,
}

#[derive(Iden, Clone, Copy)]
pub enum Residents {
    Table,
    CommunityId,
    Id,
    Name,
    Gender,
    BirthDate,
    DocumentKind,
    DocumentEnc,
    DocumentIdx,
    PhoneEnc,
    PhoneIdx,
    HouseholdId,
    BuildingId,
    GridId,
    PartyStatus,
    PartyOrganisation,
    Skills,
    Tags,
    AccountId,
    SearchText,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum Guardians {
    Table,
    CommunityId,
    MinorId,
    GuardianId,
    Relation,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum Consents {
    Table,
    CommunityId,
    Id,
    ResidentId,
    Purpose,
    GivenByResidentId,
    Method,
    GivenAt,
    WithdrawnAt,
    RecordedBy,
}

#[derive(Iden, Clone, Copy)]
pub enum ResidentSensitiveTags {
    Table,
    CommunityId,
    ResidentId,
    TagIdx,
    TagEnc,
    ConsentId,
    RecordedBy,
    RecordedAt,
}
