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
