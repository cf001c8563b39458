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

#[derive(Iden, Clone, Copy)]
pub enum Zones {
    Table,
    CommunityId,
    Id,
    Code,
    Name,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum ZoneGrids {
    Table,
    CommunityId,
    ZoneId,
    GridId,
}

#[derive(Iden, Clone, Copy)]
pub enum Staff {
    Table,
    CommunityId,
    Id,
    Name,
    OriginRole,
    OperationalRole,
    WorkPhone,
    AccountId,
    CreatedAt,
    LeftAt,
}

#[derive(Iden, Clone, Copy)]
pub enum StaffGrids {
    Table,
    CommunityId,
    StaffId,
    GridId,
    IsLeader,
    ValidFrom,
    ValidTo,
}

#[derive(Iden, Clone, Copy)]
pub enum DutyItems {
    Table,
    CommunityId,
    Id,
    Code,
    Title,
    Description,
    Position,
}

#[derive(Iden, Clone, Copy)]
pub enum Organisations {
    Table,
    CommunityId,
    Id,
    Kind,
    Name,
    Uscc,
    ContactName,
    ContactPhone,
    Address,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum GridGroups {
    Table,
    CommunityId,
    Id,
    GridId,
    Name,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum GridGroupMembers {
    Table,
    CommunityId,
    GroupId,
    Id,
    StaffId,
    ResidentId,
    OrganisationId,
    Role,
    JoinedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum ServiceKinds {
    Table,
    CommunityId,
    Code,
    NameZh,
    NameEn,
}

#[derive(Iden, Clone, Copy)]
pub enum ServicePoints {
    Table,
    CommunityId,
    Id,
    Kind,
    Code,
    Name,
    Address,
    OpeningHours,
    Phone,
    GridId,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum ServicePointServices {
    Table,
    CommunityId,
    ServicePointId,
    ServiceCode,
}

#[derive(Iden, Clone, Copy)]
pub enum Venues {
    Table,
    CommunityId,
    Id,
    ServicePointId,
    Name,
    Capacity,
}

#[derive(Iden, Clone, Copy)]
pub enum MatterCategories {
    Table,
    CommunityId,
    Id,
    Code,
    ParentId,
    NameZh,
    NameEn,
    DefaultClass,
    TimeLimit,
    TimeUnit,
    Position,
    Active,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum MatterSettings {
    Table,
    CommunityId,
    WorkingHours,
    YellowAfterDays,
    RedAfterDays,
    UpdatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum CalendarDays {
    Table,
    CommunityId,
    Day,
    Kind,
    Note,
}

/// SQLite's FTS5 index of matters (external content: `matters.search_text`).
#[derive(Iden, Clone, Copy)]
pub enum MatterSearch {
    Table,
    Rowid,
    SearchText,
}

#[derive(Iden, Clone, Copy)]
pub enum Matters {
    Table,
    CommunityId,
    Id,
    Number,
    CategoryId,
    GridId,
    BuildingId,
    Title,
    Description,
    Source,
    Status,
    Class,
    ProposedClass,
    ReporterResidentId,
    ReporterAccountId,
    RecordedBy,
    ContactEnc,
    Place,
    Latitude,
    Longitude,
    HandlerKind,
    HandlerId,
    ReferralKind,
    DueAt,
    RemindAt,
    YellowAt,
    RedAt,
    RemindedAt,
    SuperviseLevel,
    ExtensionUntil,
    FixedBy,
    Rating,
    ReopenCount,
    SearchText,
    Version,
    CreatedAt,
    UpdatedAt,
    ClosedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum MatterEvents {
    Table,
    CommunityId,
    MatterId,
    Seq,
    At,
    ActorAccountId,
    Step,
    FromStatus,
    ToStatus,
    Comment,
    Detail,
}

#[derive(Iden, Clone, Copy)]
pub enum Notifications {
    Table,
    CommunityId,
    Id,
    AccountId,
    MatterId,
    Kind,
    Title,
    Body,
    CreatedAt,
    ReadAt,
}

#[derive(Iden, Clone, Copy)]
pub enum Webhooks {
    Table,
    CommunityId,
    Id,
    Url,
    SecretEnc,
    Events,
    Active,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum Jobs {
    Table,
    Id,
    Kind,
    UniqueKey,
    Payload,
    State,
    RunAt,
    Attempts,
    MaxAttempts,
    LockedUntil,
    LockedBy,
    LastError,
    CreatedAt,
    FinishedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum MatterPhotos {
    Table,
    CommunityId,
    Id,
    MatterId,
    UploadedBy,
    ContentType,
    Bytes,
    Width,
    Height,
    HadLocation,
    OriginalKey,
    DisplayKey,
    ThumbKey,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum MediationCases {
    Table,
    CommunityId,
    Id,
    Number,
    MatterId,
    Source,
    DisputeType,
    Facts,
    Status,
    IsPublic,
    CreatedBy,
    AcceptedOn,
    AgreementKind,
    Responsibilities,
    AgreementTerms,
    PerformanceMethod,
    PerformancePlace,
    PerformanceDeadline,
    EffectiveOn,
    TerminationReason,
    Advice,
    Performance,
    JudicialRequestedOn,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum MediationParties {
    Table,
    CommunityId,
    CaseId,
    Id,
    Role,
    Name,
    Gender,
    BirthYear,
    Address,
    PhoneEnc,
    IdNumberEnc,
    Position,
}

#[derive(Iden, Clone, Copy)]
pub enum MediationMediators {
    Table,
    CommunityId,
    CaseId,
    AccountId,
    Name,
    ChosenByParties,
    AssignedAt,
    RecusedAt,
    RecusalReason,
}

#[derive(Iden, Clone, Copy)]
pub enum MediationSessions {
    Table,
    CommunityId,
    CaseId,
    Seq,
    HeldOn,
    Place,
    Attendees,
    Minutes,
    RecordedBy,
    RecordedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum MediationEvents {
    Table,
    CommunityId,
    CaseId,
    Seq,
    At,
    ActorAccountId,
    Step,
    FromStatus,
    ToStatus,
    Detail,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsRules {
    Table,
    CommunityId,
    Id,
    Code,
    Version,
    NameZh,
    NameEn,
    Basis,
    Points,
    RoundingMinutes,
    MinMinutes,
    PerOccasionCap,
    PerDayCap,
    PerMonthCap,
    VerifierRole,
    ApprovalThreshold,
    Active,
    CreatedBy,
    CreatedAt,
    SupersededAt,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsAccounts {
    Table,
    CommunityId,
    Id,
    Kind,
    Balance,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsTransfers {
    Table,
    CommunityId,
    Seq,
    Id,
    Kind,
    FromAccount,
    ToAccount,
    Amount,
    ReversesId,
    RuleId,
    RuleCode,
    SubjectId,
    ActorAccountId,
    ApproverAccountId,
    Memo,
    At,
    PrevHash,
    Hash,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsEntries {
    Table,
    CommunityId,
    AccountId,
    Seq,
    Amount,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsChainHeads {
    Table,
    CommunityId,
    Seq,
    Hash,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsOperations {
    Table,
    CommunityId,
    ActorAccountId,
    IdempotencyKey,
    Operation,
    RequestHash,
    TransferSeq,
    ResidentId,
    Balance,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsOffers {
    Table,
    CommunityId,
    Id,
    ProviderKind,
    ProviderId,
    Title,
    Description,
    Kind,
    Cost,
    Stock,
    ValidFrom,
    ValidUntil,
    Active,
    Version,
    CreatedAt,
    UpdatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsRedemptions {
    Table,
    CommunityId,
    Id,
    OfferId,
    ResidentId,
    Cost,
    CodeHash,
    Status,
    ExpiresAt,
    CreatedAt,
    SettledAt,
    SettledBy,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsConfirmers {
    Table,
    CommunityId,
    ProviderId,
    AccountId,
    CreatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum VolunteerRecords {
    Table,
    CommunityId,
    Id,
    VolunteerId,
    Activity,
    Content,
    Organiser,
    RuleCode,
    StartedAt,
    EndedAt,
    Minutes,
    Evidence,
    CorrectsId,
    Reason,
    RecordedBy,
    RecordedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum VolunteerVerifications {
    Table,
    CommunityId,
    RecordId,
    Decision,
    VerifierId,
    Note,
    IdempotencyKey,
    Points,
    PointsNote,
    VerifiedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum VolunteerCertificates {
    Table,
    CommunityId,
    Number,
    Id,
    VolunteerId,
    Minutes,
    Records,
    Lines,
    PeriodFrom,
    PeriodUntil,
    IssuedBy,
    IssuedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsApprovals {
    Table,
    CommunityId,
    Id,
    ResidentId,
    RuleId,
    RuleCode,
    Points,
    Memo,
    SubjectId,
    RequestedBy,
    RequestKey,
    RequestHash,
    RequestedAt,
    Status,
    DecidedBy,
    DecisionKey,
    DecisionNote,
    DecidedAt,
    TransferId,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsProxies {
    Table,
    CommunityId,
    Id,
    ResidentId,
    ProxyAccountId,
    Relation,
    ConsentEvidence,
    GrantedBy,
    GrantedAt,
    RevokedBy,
    RevokedAt,
    RevokeReason,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsSettings {
    Table,
    CommunityId,
    ExpiryMonths,
    NoticeDays,
    LadderWindowDays,
    LadderParticipantOccasions,
    LadderVolunteerMinutes,
    LastExpiryRun,
    UpdatedBy,
    UpdatedAt,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsExpiryNotices {
    Table,
    CommunityId,
    ResidentId,
    NoticedAt,
    Amount,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsRankings {
    Table,
    CommunityId,
    Id,
    GridId,
    Month,
    Lines,
    PublishedBy,
    PublishedAt,
    ObjectionsUntil,
}

#[derive(Iden, Clone, Copy)]
pub enum PointsRankingObjections {
    Table,
    CommunityId,
    Id,
    RankingId,
    Line,
    Reason,
    FiledBy,
    FiledAt,
    Outcome,
    Answer,
    AnsweredBy,
    AnsweredAt,
}
