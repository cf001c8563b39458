//! Matters and their append-only timeline.

use chrono::{DateTime, Utc};
use linli_domain::auth::GridFilter;
use linli_domain::matters::search::text_terms;
use linli_domain::matters::{Deadlines, DispatchTarget, MatterClass, MatterStatus, SuperviseLevel};
use linli_domain::{AccountId, CommunityId, GridId};
use sea_query::{Expr, ExprTrait, Func, InsertStatement, Order, Query, SelectStatement};
use uuid::Uuid;

use crate::db::Record;
use crate::registry::places::apply_grid_filter;
use crate::registry::residents::community_prefix;
use crate::schema::{MatterEvents, MatterSearch, Matters};
use crate::{Db, Engine, Exec, PageOf, PageRequest, Result, lite};

/// What the full-text index holds for a matter: its title and description's terms,
/// each prefixed with the community (as for resident names).
pub fn search_text(community: CommunityId, title: &str, description: &str) -> String {
    let prefix = community_prefix(community);
    let terms = text_terms(&format!("{title}\n{description}"));
    let mut text = String::with_capacity(terms.iter().map(|t| prefix.len() + t.len() + 1).sum());
    for term in &terms {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(&prefix);
        text.push_str(term);
    }
    text
}

#[derive(Debug, Clone)]
pub struct NewMatter {
    pub id: Uuid,
    pub number: String,
    pub category_id: Uuid,
    pub grid_id: Option<GridId>,
    pub building_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    pub source: &'static str,
    pub proposed_class: Option<MatterClass>,
    pub reporter_resident_id: Option<Uuid>,
    pub reporter_account_id: Option<AccountId>,
    pub recorded_by: Option<AccountId>,
    pub contact_enc: Option<Vec<u8>>,
    pub place: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

/// Records a new matter as reported, with the first entry of its timeline, durably. It
/// joins the next group commit: the direct lane's on SQLite, [`super::pg_reports`]'s on
/// PostgreSQL.
pub async fn report_matter(
    db: &Db,
    community: CommunityId,
    m: NewMatter,
    actor: Option<AccountId>,
    now: DateTime<Utc>,
) -> Result<()> {
    if let Some(lite) = db.lite() {
        let search = search_text(community, &m.title, &m.description);
        let statements = [
            lite::Built::new(&matters_insert_with_search([(
                community,
                &m,
                now,
                search.as_str(),
            )])),
            lite::Built::new(&search_entry_insert(&search)),
            lite::Built::new(&event_insert(community, m.id, &first_event(&m, actor), now)),
        ];
        return lite
            .write(move |conn| {
                for statement in &statements {
                    statement.execute(conn)?;
                }
                Ok(())
            })
            .await;
    }
    if let Some(reports) = db.pg_reports() {
        return reports.report(community, m, actor, now).await;
    }
    let mut tx = db.begin().await?;
    insert_matter(&mut tx.exec(), community, &m, actor, now).await?;
    tx.commit().await
}

/// Records a new matter as reported, with the first entry of its timeline.
pub async fn insert_matter(
    ex: &mut Exec<'_>,
    community: CommunityId,
    m: &NewMatter,
    actor: Option<AccountId>,
    now: DateTime<Utc>,
) -> Result<()> {
    let search = search_text(community, &m.title, &m.description);
    ex.execute(&matters_insert_with_search([(
        community,
        m,
        now,
        search.as_str(),
    )]))
    .await?;
    if ex.engine() == Engine::Sqlite {
        ex.execute(&search_entry_insert(&search)).await?;
    }
    insert_event(ex, community, m.id, &first_event(m, actor), now).await
}

pub(super) fn first_event(m: &NewMatter, actor: Option<AccountId>) -> NewEvent {
    NewEvent {
        seq: 1,
        actor,
        step: "report",
        from: None,
        to: MatterStatus::Reported,
        comment: String::new(),
        detail: serde_json::json!({ "source": m.source }),
    }
}

/// SQLite: the full-text entry of the matter inserted just before on this connection.
/// The store writes it, not a trigger (see migration 0007): with a trigger, every insert
/// made FTS5 flush its index to disk.
fn search_entry_insert(search: &str) -> InsertStatement {
    Query::insert()
        .into_table(MatterSearch::Table)
        .columns([MatterSearch::Rowid, MatterSearch::SearchText])
        .values_panic([Expr::cust("last_insert_rowid()"), search.into()])
        .to_owned()
}

/// New matters as reported, one row each.
pub(super) fn matters_insert<'m>(
    reports: impl IntoIterator<Item = (CommunityId, &'m NewMatter, DateTime<Utc>)>,
) -> InsertStatement {
    let reports: Vec<_> = reports
        .into_iter()
        .map(|(community, m, now)| {
            (
                community,
                m,
                now,
                search_text(community, &m.title, &m.description),
            )
        })
        .collect();
    matters_insert_with_search(
        reports
            .iter()
            .map(|(c, m, now, s)| (*c, *m, *now, s.as_str())),
    )
}

/// New matters as reported, with their full-text terms already worked out (they are
/// also the search index's entry, and costly enough to work out once).
fn matters_insert_with_search<'m>(
    reports: impl IntoIterator<Item = (CommunityId, &'m NewMatter, DateTime<Utc>, &'m str)>,
) -> InsertStatement {
    let mut q = Query::insert()
        .into_table(Matters::Table)
        .columns([
            Matters::CommunityId,
            Matters::Id,
            Matters::Number,
            Matters::CategoryId,
            Matters::GridId,
            Matters::BuildingId,
            Matters::Title,
            Matters::Description,
            Matters::Source,
            Matters::Status,
            Matters::ProposedClass,
            Matters::ReporterResidentId,
            Matters::ReporterAccountId,
            Matters::RecordedBy,
            Matters::ContactEnc,
            Matters::Place,
            Matters::Latitude,
            Matters::Longitude,
            Matters::SuperviseLevel,
            Matters::ReopenCount,
            Matters::SearchText,
            Matters::Version,
            Matters::CreatedAt,
            Matters::UpdatedAt,
        ])
        .to_owned();
    for (community, m, now, search) in reports {
        q.values_panic([
            community.0.into(),
            m.id.into(),
            m.number.clone().into(),
            m.category_id.into(),
            m.grid_id.map(|g| g.0).into(),
            m.building_id.into(),
            m.title.clone().into(),
            m.description.clone().into(),
            m.source.into(),
            MatterStatus::Reported.as_str().into(),
            m.proposed_class.map(|c| c.as_str()).into(),
            m.reporter_resident_id.into(),
            m.reporter_account_id.map(|a| a.0).into(),
            m.recorded_by.map(|a| a.0).into(),
            m.contact_enc.clone().into(),
            m.place.clone().into(),
            m.latitude.into(),
            m.longitude.into(),
            SuperviseLevel::None.as_str().into(),
            0i32.into(),
            search.into(),
            1i64.into(),
            now.into(),
            now.into(),
        ]);
    }
    q
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MatterRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub number: String,
    pub category_id: Uuid,
    pub grid_id: Option<Uuid>,
    pub building_id: Option<Uuid>,
    pub title: String,
    pub description: String,
    pub source: String,
    pub status: String,
    pub class: Option<String>,
    pub proposed_class: Option<String>,
    pub reporter_resident_id: Option<Uuid>,
    pub reporter_account_id: Option<Uuid>,
    pub recorded_by: Option<Uuid>,
    pub contact_enc: Option<Vec<u8>>,
    pub place: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub handler_kind: Option<String>,
    pub handler_id: Option<Uuid>,
    pub referral_kind: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub remind_at: Option<DateTime<Utc>>,
    pub yellow_at: Option<DateTime<Utc>>,
    pub red_at: Option<DateTime<Utc>>,
    pub reminded_at: Option<DateTime<Utc>>,
    pub supervise_level: String,
    pub extension_until: Option<DateTime<Utc>>,
    pub fixed_by: Option<Uuid>,
    pub rating: Option<i32>,
    pub reopen_count: i32,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

impl MatterRow {
    /// The row a just-inserted report reads back as (saves reading it again).
    pub fn reported(community: CommunityId, m: &NewMatter, now: DateTime<Utc>) -> MatterRow {
        MatterRow {
            community_id: community.0,
            id: m.id,
            number: m.number.clone(),
            category_id: m.category_id,
            grid_id: m.grid_id.map(|g| g.0),
            building_id: m.building_id,
            title: m.title.clone(),
            description: m.description.clone(),
            source: m.source.to_owned(),
            status: MatterStatus::Reported.as_str().to_owned(),
            class: None,
            proposed_class: m.proposed_class.map(|c| c.as_str().to_owned()),
            reporter_resident_id: m.reporter_resident_id,
            reporter_account_id: m.reporter_account_id.map(|a| a.0),
            recorded_by: m.recorded_by.map(|a| a.0),
            contact_enc: m.contact_enc.clone(),
            place: m.place.clone(),
            latitude: m.latitude,
            longitude: m.longitude,
            handler_kind: None,
            handler_id: None,
            referral_kind: None,
            due_at: None,
            remind_at: None,
            yellow_at: None,
            red_at: None,
            reminded_at: None,
            supervise_level: SuperviseLevel::None.as_str().to_owned(),
            extension_until: None,
            fixed_by: None,
            rating: None,
            reopen_count: 0,
            version: 1,
            created_at: now,
            updated_at: now,
            closed_at: None,
        }
    }
}

impl MatterRow {
    /// Decodes a row of [`matter_columns`] read on the direct SQLite lane (same order).
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<MatterRow> {
        use crate::lite::decode::{opt_time, opt_uuid, time, uuid};
        Ok(MatterRow {
            community_id: uuid(r, 0)?,
            id: uuid(r, 1)?,
            number: r.get(2)?,
            category_id: uuid(r, 3)?,
            grid_id: opt_uuid(r, 4)?,
            building_id: opt_uuid(r, 5)?,
            title: r.get(6)?,
            description: r.get(7)?,
            source: r.get(8)?,
            status: r.get(9)?,
            class: r.get(10)?,
            proposed_class: r.get(11)?,
            reporter_resident_id: opt_uuid(r, 12)?,
            reporter_account_id: opt_uuid(r, 13)?,
            recorded_by: opt_uuid(r, 14)?,
            contact_enc: r.get(15)?,
            place: r.get(16)?,
            latitude: r.get(17)?,
            longitude: r.get(18)?,
            handler_kind: r.get(19)?,
            handler_id: opt_uuid(r, 20)?,
            referral_kind: r.get(21)?,
            due_at: opt_time(r, 22)?,
            remind_at: opt_time(r, 23)?,
            yellow_at: opt_time(r, 24)?,
            red_at: opt_time(r, 25)?,
            reminded_at: opt_time(r, 26)?,
            supervise_level: r.get(27)?,
            extension_until: opt_time(r, 28)?,
            fixed_by: opt_uuid(r, 29)?,
            rating: r.get(30)?,
            reopen_count: r.get(31)?,
            version: r.get(32)?,
            created_at: time(r, 33)?,
            updated_at: time(r, 34)?,
            closed_at: opt_time(r, 35)?,
        })
    }
}

/// A shape a list of matters is read in: whole matters ([`MatterRow`]), or the summary a
/// list page shows ([`MatterSummaryRow`]). Lists read only their shape's columns.
pub trait Listed: Record + Send + 'static {
    /// Selects the shape's columns of `matters`, in the order [`Listed::from_lite`]
    /// decodes them.
    fn columns(q: &mut SelectStatement);
    fn id(&self) -> Uuid;
    /// Decodes a row read on the direct SQLite lane.
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;
}

impl Listed for MatterRow {
    fn columns(q: &mut SelectStatement) {
        q.columns(MATTER_COLUMNS.map(|c| (Matters::Table, c)));
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<MatterRow> {
        MatterRow::from_lite(r)
    }
}

/// What a list of matters shows for each: the rest is on the matter's own page. A page of
/// summaries is read and sent at a fraction of the cost of whole matters.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct MatterSummaryRow {
    pub id: Uuid,
    pub number: String,
    pub title: String,
    pub category_id: Uuid,
    pub grid_id: Option<Uuid>,
    pub status: String,
    pub class: Option<String>,
    pub handler_kind: Option<String>,
    pub due_at: Option<DateTime<Utc>>,
    pub supervise_level: String,
    pub rating: Option<i32>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// `T`'s columns of `matters`.
fn select_of<T: Listed>() -> SelectStatement {
    let mut q = Query::select().from(Matters::Table).to_owned();
    T::columns(&mut q);
    q
}

/// The columns of a [`MatterSummaryRow`], in its order.
const SUMMARY_COLUMNS: [Matters; 15] = [
    Matters::Id,
    Matters::Number,
    Matters::Title,
    Matters::CategoryId,
    Matters::GridId,
    Matters::Status,
    Matters::Class,
    Matters::HandlerKind,
    Matters::DueAt,
    Matters::SuperviseLevel,
    Matters::Rating,
    Matters::Version,
    Matters::CreatedAt,
    Matters::UpdatedAt,
    Matters::ClosedAt,
];

impl Listed for MatterSummaryRow {
    fn columns(q: &mut SelectStatement) {
        q.columns(SUMMARY_COLUMNS.map(|c| (Matters::Table, c)));
    }
    fn id(&self) -> Uuid {
        self.id
    }
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<MatterSummaryRow> {
        use crate::lite::decode::{opt_time, opt_uuid, time, uuid};
        Ok(MatterSummaryRow {
            id: uuid(r, 0)?,
            number: r.get(1)?,
            title: r.get(2)?,
            category_id: uuid(r, 3)?,
            grid_id: opt_uuid(r, 4)?,
            status: r.get(5)?,
            class: r.get(6)?,
            handler_kind: r.get(7)?,
            due_at: opt_time(r, 8)?,
            supervise_level: r.get(9)?,
            rating: r.get(10)?,
            version: r.get(11)?,
            created_at: time(r, 12)?,
            updated_at: time(r, 13)?,
            closed_at: opt_time(r, 14)?,
        })
    }
}

const MATTER_COLUMNS: [Matters; 36] = [
    Matters::CommunityId,
    Matters::Id,
    Matters::Number,
    Matters::CategoryId,
    Matters::GridId,
    Matters::BuildingId,
    Matters::Title,
    Matters::Description,
    Matters::Source,
    Matters::Status,
    Matters::Class,
    Matters::ProposedClass,
    Matters::ReporterResidentId,
    Matters::ReporterAccountId,
    Matters::RecordedBy,
    Matters::ContactEnc,
    Matters::Place,
    Matters::Latitude,
    Matters::Longitude,
    Matters::HandlerKind,
    Matters::HandlerId,
    Matters::ReferralKind,
    Matters::DueAt,
    Matters::RemindAt,
    Matters::YellowAt,
    Matters::RedAt,
    Matters::RemindedAt,
    Matters::SuperviseLevel,
    Matters::ExtensionUntil,
    Matters::FixedBy,
    Matters::Rating,
    Matters::ReopenCount,
    Matters::Version,
    Matters::CreatedAt,
    Matters::UpdatedAt,
    Matters::ClosedAt,
];

fn matter_columns() -> SelectStatement {
    Query::select()
        .columns(MATTER_COLUMNS.map(|c| (Matters::Table, c)))
        .from(Matters::Table)
        .to_owned()
}

pub async fn find_matter(ex: &mut Exec<'_>, id: Uuid) -> Result<Option<MatterRow>> {
    let q = matter_columns()
        .and_where(Expr::col((Matters::Table, Matters::Id)).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}

pub async fn find_matter_by_number(
    ex: &mut Exec<'_>,
    community: CommunityId,
    number: &str,
) -> Result<Option<MatterRow>> {
    let q = matter_columns()
        .and_where(Expr::col((Matters::Table, Matters::CommunityId)).eq(community.0))
        .and_where(Expr::col((Matters::Table, Matters::Number)).eq(number))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// The columns a step changes. `None` leaves a column as it is; a nested `Some(None)`
/// clears it.
#[derive(Debug, Clone, Default)]
pub struct MatterChange {
    pub status: Option<MatterStatus>,
    pub class: Option<MatterClass>,
    pub handler: Option<Option<DispatchTarget>>,
    pub referral_kind: Option<&'static str>,
    pub deadlines: Option<Option<Deadlines>>,
    pub extension_until: Option<Option<DateTime<Utc>>>,
    pub supervise_level: Option<SuperviseLevel>,
    pub fixed_by: Option<Option<Uuid>>,
    pub rating: Option<i32>,
    pub reopened: bool,
    pub closed_at: Option<Option<DateTime<Utc>>>,
}

/// One timeline entry.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub seq: i64,
    pub actor: Option<AccountId>,
    pub step: &'static str,
    pub from: Option<MatterStatus>,
    pub to: MatterStatus,
    pub comment: String,
    pub detail: serde_json::Value,
}

/// Applies a step if the matter is still at `version`, and appends its timeline entry.
/// `false`: someone else changed the matter first (nothing written).
pub async fn apply_change(
    ex: &mut Exec<'_>,
    community: CommunityId,
    id: Uuid,
    version: i64,
    change: &MatterChange,
    event: &NewEvent,
    now: DateTime<Utc>,
) -> Result<bool> {
    let mut q = Query::update()
        .table(Matters::Table)
        .value(Matters::Version, version + 1)
        .value(Matters::UpdatedAt, now)
        .and_where(Expr::col(Matters::CommunityId).eq(community.0))
        .and_where(Expr::col(Matters::Id).eq(id))
        .and_where(Expr::col(Matters::Version).eq(version))
        .to_owned();
    if let Some(s) = change.status {
        q.value(Matters::Status, s.as_str());
    }
    if let Some(c) = change.class {
        q.value(Matters::Class, c.as_str());
    }
    if let Some(handler) = change.handler {
        q.value(Matters::HandlerKind, handler.map(|h| h.kind.as_str()));
        q.value(Matters::HandlerId, handler.and_then(|h| h.id));
    }
    if let Some(kind) = change.referral_kind {
        q.value(Matters::ReferralKind, kind);
    }
    if let Some(deadlines) = change.deadlines {
        q.value(Matters::DueAt, deadlines.map(|d| d.due_at));
        q.value(Matters::RemindAt, deadlines.map(|d| d.remind_at));
        q.value(Matters::YellowAt, deadlines.map(|d| d.yellow_at));
        q.value(Matters::RedAt, deadlines.map(|d| d.red_at));
        q.value(Matters::RemindedAt, None::<DateTime<Utc>>);
    }
    if let Some(until) = change.extension_until {
        q.value(Matters::ExtensionUntil, until);
    }
    if let Some(level) = change.supervise_level {
        q.value(Matters::SuperviseLevel, level.as_str());
    }
    if let Some(by) = change.fixed_by {
        q.value(Matters::FixedBy, by);
    }
    if let Some(r) = change.rating {
        q.value(Matters::Rating, r);
    }
    if change.reopened {
        q.value(Matters::ReopenCount, Expr::col(Matters::ReopenCount).add(1));
    }
    if let Some(at) = change.closed_at {
        q.value(Matters::ClosedAt, at);
    }
    if ex.execute(&q).await? != 1 {
        return Ok(false);
    }
    insert_event(ex, community, id, event, now).await?;
    Ok(true)
}

pub(crate) async fn insert_event(
    ex: &mut Exec<'_>,
    community: CommunityId,
    matter: Uuid,
    e: &NewEvent,
    now: DateTime<Utc>,
) -> Result<()> {
    ex.execute(&event_insert(community, matter, e, now)).await?;
    Ok(())
}

fn event_insert(
    community: CommunityId,
    matter: Uuid,
    e: &NewEvent,
    now: DateTime<Utc>,
) -> InsertStatement {
    events_insert([(community, matter, e, now)])
}

/// Timeline entries, one row each.
pub(super) fn events_insert<'e>(
    events: impl IntoIterator<Item = (CommunityId, Uuid, &'e NewEvent, DateTime<Utc>)>,
) -> InsertStatement {
    let mut q = Query::insert()
        .into_table(MatterEvents::Table)
        .columns(EVENT_COLUMNS)
        .to_owned();
    for (community, matter, e, now) in events {
        q.values_panic(event_values(community, matter, e, now).map(Expr::from));
    }
    q
}

/// The columns of a timeline entry, in the order [`event_values`] gives them.
pub(super) const EVENT_COLUMNS: [MatterEvents; 10] = [
    MatterEvents::CommunityId,
    MatterEvents::MatterId,
    MatterEvents::Seq,
    MatterEvents::At,
    MatterEvents::ActorAccountId,
    MatterEvents::Step,
    MatterEvents::FromStatus,
    MatterEvents::ToStatus,
    MatterEvents::Comment,
    MatterEvents::Detail,
];

pub(super) fn event_values(
    community: CommunityId,
    matter: Uuid,
    e: &NewEvent,
    now: DateTime<Utc>,
) -> [sea_query::Value; 10] {
    [
        community.0.into(),
        matter.into(),
        e.seq.into(),
        now.into(),
        e.actor.map(|a| a.0).into(),
        e.step.into(),
        e.from.map(|s| s.as_str()).into(),
        e.to.as_str().into(),
        e.comment.clone().into(),
        e.detail.to_string().into(),
    ]
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct EventRow {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor_account_id: Option<Uuid>,
    pub step: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub comment: String,
    pub detail: String,
}

/// A matter's timeline, oldest first.
pub async fn timeline(
    ex: &mut Exec<'_>,
    community: CommunityId,
    matter: Uuid,
) -> Result<Vec<EventRow>> {
    let q = Query::select()
        .columns([
            MatterEvents::Seq,
            MatterEvents::At,
            MatterEvents::ActorAccountId,
            MatterEvents::Step,
            MatterEvents::FromStatus,
            MatterEvents::ToStatus,
            MatterEvents::Comment,
            MatterEvents::Detail,
        ])
        .from(MatterEvents::Table)
        .and_where(Expr::col(MatterEvents::CommunityId).eq(community.0))
        .and_where(Expr::col(MatterEvents::MatterId).eq(matter))
        .order_by(MatterEvents::Seq, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// How a list of matters is narrowed. Empty vectors mean "any".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MatterFilter {
    pub statuses: Vec<MatterStatus>,
    pub class: Option<MatterClass>,
    pub categories: Vec<Uuid>,
    pub grid: Option<GridId>,
    pub handler_id: Option<Uuid>,
    pub reporter: Option<AccountId>,
    /// Only running matters past their due time at this moment.
    pub overdue_at: Option<DateTime<Utc>>,
    pub supervise_levels: Vec<SuperviseLevel>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    /// Query terms (see `matters::search::query_terms`), all of which must match.
    pub terms: Vec<String>,
}

impl MatterFilter {
    /// The same filter without its search terms.
    fn without_terms(&self) -> MatterFilter {
        MatterFilter {
            terms: Vec::new(),
            ..self.clone()
        }
    }
}

/// A text search counts its matches exactly up to this many and answers "more than" past
/// it ([`PageOf::total_capped`]): an exact count of a word in most matters costs more than
/// reading its page, and nobody pages through a thousand matches. Up to the cap, the
/// search also reads the id of every match and pages them in memory ([`IdsFirst`]); past
/// it, matches are dense enough that walking the community newest first fills a page
/// sooner.
pub const SEARCH_TOTAL_CAP: u64 = 1_000;

/// How many matters a text search finds, counted up to one past [`SEARCH_TOTAL_CAP`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextMatches {
    /// At most the cap: counted exactly (SQLite: in the full-text index alone).
    Few(u64),
    /// More than the cap.
    Many,
}

impl TextMatches {
    fn of(counted: u64) -> TextMatches {
        match counted <= SEARCH_TOTAL_CAP {
            true => TextMatches::Few(counted),
            false => TextMatches::Many,
        }
    }
}

fn text_condition(
    engine: Engine,
    community: CommunityId,
    terms: &[String],
    matches: Option<TextMatches>,
) -> Expr {
    let prefix = community_prefix(community);
    match engine {
        Engine::Sqlite => {
            let query = fts_query(&prefix, terms);
            if matches!(matches, Some(TextMatches::Few(_))) {
                // Joined by [`filtered`]: the full-text index drives, each match is looked
                // up by rowid, and a LIMIT stops the read early (an `IN (SELECT …)` would
                // first collect every match into a temporary index).
                Expr::cust_with_values("matter_search MATCH ?", [query])
            } else {
                // The unary `+` keeps the match set from driving the plan: SQLite then
                // walks the community's matters newest first and stops at the page's end
                // (after gathering every match into a temporary index; the lane's reads
                // avoid that with [`dense_page`]).
                Expr::cust_with_values(
                    "+matters.rowid IN (SELECT rowid FROM matter_search WHERE matter_search MATCH ?)",
                    [query],
                )
            }
        }
        Engine::Postgres => Expr::cust_with_values(
            // The expression of the `matters_search` index (migration 0016), written the
            // same way so that the planner can use the index.
            "array_to_tsvector(array_remove(string_to_array(matters.search_text, ' '), '')) \
             @@ CAST($1 AS tsquery)",
            [ts_query(&prefix, terms)],
        ),
    }
}

/// Every term as a whole term of `search_text` (terms one space apart, as the index's
/// vector holds them): the test row by row of [`newest_chunk`]. Cheaper than building
/// each row's vector from its text; it finds exactly what the index finds.
fn terms_in_search_text(community: CommunityId, terms: &[String]) -> Expr {
    let prefix = community_prefix(community);
    let mut all = Expr::val(true);
    for term in terms {
        all = all.and(Expr::cust_with_values(
            "strpos(' ' || matters.search_text || ' ', $1) > 0",
            [format!(" {prefix}{term} ")],
        ));
    }
    all
}

/// A PostgreSQL query requiring every term as a lexeme, exactly as the vector holds it
/// (migration 0014: no parser on either side). Each is quoted: terms are data, never
/// syntax.
fn ts_query(prefix: &str, terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| {
            format!(
                "'{}'",
                format!("{prefix}{t}")
                    .replace('\\', "\\\\")
                    .replace('\'', "''")
            )
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

/// An FTS5 query requiring every term (each quoted: terms are data, never syntax).
fn fts_query(prefix: &str, terms: &[String]) -> String {
    terms
        .iter()
        .map(|t| format!("\"{prefix}{t}\""))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn running() -> Vec<&'static str> {
    vec![
        MatterStatus::Dispatched.as_str(),
        MatterStatus::InProgress.as_str(),
    ]
}

/// The filtered query (selecting nothing yet), or `None` when the grid filter leaves
/// nothing to see. `matches`: on SQLite, how many matters hold the search terms.
fn filtered(
    engine: Engine,
    community: CommunityId,
    grids: &GridFilter,
    f: &MatterFilter,
    matches: Option<TextMatches>,
) -> Option<SelectStatement> {
    let col = |c: Matters| Expr::col((Matters::Table, c));
    let mut q = Query::select()
        .from(Matters::Table)
        .and_where(col(Matters::CommunityId).eq(community.0))
        .to_owned();
    if !apply_grid_filter(&mut q, (Matters::Table, Matters::GridId), grids) {
        return None;
    }
    if !f.statuses.is_empty() {
        q.and_where(col(Matters::Status).is_in(f.statuses.iter().map(|s| s.as_str())));
    }
    if let Some(c) = f.class {
        q.and_where(col(Matters::Class).eq(c.as_str()));
    }
    if !f.categories.is_empty() {
        q.and_where(col(Matters::CategoryId).is_in(f.categories.iter().copied()));
    }
    if let Some(g) = f.grid {
        q.and_where(col(Matters::GridId).eq(g.0));
    }
    if let Some(h) = f.handler_id {
        q.and_where(col(Matters::HandlerId).eq(h));
    }
    if let Some(r) = f.reporter {
        q.and_where(col(Matters::ReporterAccountId).eq(r.0));
    }
    if let Some(now) = f.overdue_at {
        q.and_where(col(Matters::Status).is_in(running()));
        q.and_where(col(Matters::DueAt).lt(now));
    }
    if !f.supervise_levels.is_empty() {
        q.and_where(
            col(Matters::SuperviseLevel).is_in(f.supervise_levels.iter().map(|l| l.as_str())),
        );
    }
    if let Some(from) = f.created_from {
        q.and_where(col(Matters::CreatedAt).gte(from));
    }
    if let Some(before) = f.created_before {
        q.and_where(col(Matters::CreatedAt).lt(before));
    }
    if !f.terms.is_empty() {
        if engine == Engine::Sqlite && matches!(matches, Some(TextMatches::Few(_))) {
            q.inner_join(
                sea_query::Alias::new("matter_search"),
                Expr::cust("matter_search.rowid = matters.rowid"),
            );
        }
        q.and_where(text_condition(engine, community, &f.terms, matches));
    }
    Some(q)
}

/// Matters the caller may see, newest first, one page after the cursor. `total` counts
/// every match (the first page only: later pages repeat it as 0 to spare the count); a
/// text search counts up to [`SEARCH_TOTAL_CAP`].
pub async fn list_matters(
    ex: &mut Exec<'_>,
    community: CommunityId,
    grids: &GridFilter,
    f: &MatterFilter,
    page: PageRequest,
    with_total: bool,
) -> Result<PageOf<MatterRow>> {
    list_matters_as(ex, community, grids, f, page, with_total).await
}

/// [`list_matters`] read in the shape `T`.
pub async fn list_matters_as<T: Listed>(
    ex: &mut Exec<'_>,
    community: CommunityId,
    grids: &GridFilter,
    f: &MatterFilter,
    page: PageRequest,
    with_total: bool,
) -> Result<PageOf<T>> {
    let engine = ex.engine();
    let matches = match engine == Engine::Sqlite && !f.terms.is_empty() {
        true => Some(TextMatches::of(
            ex.fetch_one::<(i64,), _>(&fts_count(community, &f.terms))
                .await?
                .0 as u64,
        )),
        false => None,
    };
    let Some(plan) = ListPlan::new::<T>(engine, community, grids, f, page, with_total, matches)
    else {
        return Ok(PageOf::empty());
    };
    if let Some(first) = &plan.ids_first {
        let ids: Vec<(Uuid,)> = ex.fetch_all(&first.ids).await?;
        if first.holds_all(ids.len()) {
            let ids = ids.into_iter().map(|(id,)| id).collect();
            let (total, wanted) = page.slice_ids(ids, crate::page::Direction::Descending);
            let rows = match wanted.is_empty() {
                true => Vec::new(),
                false => ex.fetch_all(&rows_by_ids::<T>(community, wanted)).await?,
            };
            return Ok(PageOf::from_lookahead(rows, page, total, T::id));
        }
    }
    let (total, capped) = match &plan.total {
        Total::Count { statement, cap } => capped_total(
            ex.fetch_one::<(i64,), _>(&**statement).await?.0 as u64,
            *cap,
        ),
        settled => settled.settled(),
    };
    if let Some(newest) = &plan.newest_chunk {
        let rows: Vec<T> = ex.fetch_all(newest).await?;
        if rows.len() as u64 >= page.fetch_limit() {
            return Ok(PageOf::from_lookahead(rows, page, total, T::id).capped_if(capped));
        }
    }
    let rows = ex.fetch_all(&plan.walk).await?;
    Ok(PageOf::from_lookahead(rows, page, total, T::id).capped_if(capped))
}

/// [`list_matters_as`] on a connection of its own: on SQLite through the direct lane (see
/// [`crate::lite`]), which is what lets a busy list page keep up.
pub async fn list_matters_pooled<T: Listed>(
    db: &Db,
    community: CommunityId,
    grids: &GridFilter,
    f: &MatterFilter,
    page: PageRequest,
    with_total: bool,
) -> Result<PageOf<T>> {
    let Some(lite) = db.lite() else {
        let mut conn = db.acquire().await?;
        return list_matters_as(&mut conn.exec(), community, grids, f, page, with_total).await;
    };
    let (grids, f) = (grids.clone(), f.clone());
    lite.read(move |conn| {
        let matches = match f.terms.is_empty() {
            true => None,
            false => Some(TextMatches::of(lite::count(
                conn,
                &fts_count(community, &f.terms),
            )?)),
        };
        if matches == Some(TextMatches::Many) {
            return dense_page::<T>(conn, community, &grids, &f, page, with_total);
        }
        let Some(plan) = ListPlan::new::<T>(
            Engine::Sqlite,
            community,
            &grids,
            &f,
            page,
            with_total,
            matches,
        ) else {
            return Ok(PageOf::empty());
        };
        if let Some(first) = &plan.ids_first {
            let mut keyed = first.ids.clone();
            keyed.column((Matters::Table, sea_query::Alias::new("rowid")));
            let ids = lite::fetch_all(conn, &keyed, id_and_rowid)?;
            if first.holds_all(ids.len()) {
                let (total, wanted) =
                    page.slice_keyed(ids, |(id, _)| *id, crate::page::Direction::Descending);
                let rows = match wanted.is_empty() {
                    true => Vec::new(),
                    false => {
                        let rowids = wanted.into_iter().map(|(_, rowid)| rowid);
                        lite::fetch_all(conn, &rows_by_rowids::<T>(rowids), T::from_lite)?
                    }
                };
                return Ok(PageOf::from_lookahead(rows, page, total, T::id));
            }
        }
        let (total, capped) = match &plan.total {
            Total::Count { statement, cap } => capped_total(lite::count(conn, &**statement)?, *cap),
            settled => settled.settled(),
        };
        let rows = lite::fetch_all(conn, &plan.walk, T::from_lite)?;
        Ok(PageOf::from_lookahead(rows, page, total, T::id).capped_if(capped))
    })
    .await
}

/// A matter's id and SQLite rowid, selected in that order.
fn id_and_rowid(r: &rusqlite::Row<'_>) -> rusqlite::Result<(Uuid, i64)> {
    Ok((lite::decode::uuid(r, 0)?, r.get(1)?))
}

/// Rows of the community a dense search walks at first, newest first, before asking the
/// full-text index which of them match; each further chunk is twice as long.
const DENSE_CHUNK: u64 = 256;
const DENSE_CHUNK_MAX: u64 = 4_096;

/// A page of a search for words in more matters than [`SEARCH_TOTAL_CAP`], on the lane.
///
/// Walks the filtered matters newest first by id in chunks, and asks the full-text index
/// for the matches among each chunk's rowid range: one index read per chunk. Asking about
/// each matter (a correlated `EXISTS … rowid = ?`) costs a seek through every term's list
/// per row, and `rowid IN (SELECT … MATCH ?)` gathers every match of the word first;
/// walking the index in rowid order would be cheaper still, but rowids follow insertion
/// order, not ids. With other filters, the chunks also count matches, up to the cap.
fn dense_page<T: Listed>(
    conn: &rusqlite::Connection,
    community: CommunityId,
    grids: &GridFilter,
    f: &MatterFilter,
    page: PageRequest,
    with_total: bool,
) -> Result<PageOf<T>> {
    let plain = f.without_terms();
    let Some(mut chunk_query) = filtered(Engine::Sqlite, community, grids, &plain, None) else {
        return Ok(PageOf::empty());
    };
    let rowid = || Expr::col((Matters::Table, sea_query::Alias::new("rowid")));
    chunk_query
        .column((Matters::Table, Matters::Id))
        .expr(rowid())
        .order_by((Matters::Table, Matters::Id), Order::Desc);
    let query = fts_query(&community_prefix(community), &f.terms);
    // The word alone is in more matters than the cap (counted already); with other
    // filters, only counting tells.
    let text_only = plain == MatterFilter::default() && *grids == GridFilter::All;
    let counting = with_total && !text_only;
    let wanted = page.fetch_limit() as usize;
    // Counting starts at the newest match; a page alone starts after its cursor.
    let mut before = if counting { None } else { page.after };
    let (mut chunk_len, mut counted, mut picked) = (DENSE_CHUNK, 0u64, Vec::new());
    if !counting {
        let tokens = indexed_tokens(community, &f.terms);
        match dense_scan(conn, chunk_query.clone(), page.after, &tokens, wanted)? {
            Scanned::Done(rowids) => return dense_rows(conn, rowids, page, with_total, None),
            Scanned::Partly { rowids, last } => (picked, before) = (rowids, Some(last)),
        }
    }
    loop {
        let mut q = chunk_query.clone();
        if let Some(before) = before {
            q.and_where(Expr::col((Matters::Table, Matters::Id)).lt(before));
        }
        q.limit(chunk_len);
        let chunk = lite::fetch_all(conn, &q, id_and_rowid)?;
        let (Some(low), Some(high)) = (
            chunk.iter().map(|(_, r)| *r).min(),
            chunk.iter().map(|(_, r)| *r).max(),
        ) else {
            break;
        };
        let in_range = Query::select()
            .column(sea_query::Alias::new("rowid"))
            .from(sea_query::Alias::new("matter_search"))
            .and_where(Expr::cust_with_values(
                "matter_search MATCH ?",
                [query.clone()],
            ))
            .and_where(Expr::col(sea_query::Alias::new("rowid")).between(low, high))
            .to_owned();
        let hits: std::collections::HashSet<i64> = lite::fetch_all(conn, &in_range, |r| r.get(0))?
            .into_iter()
            .collect();
        for (id, rowid) in &chunk {
            if !hits.contains(rowid) {
                continue;
            }
            counted += 1;
            if picked.len() < wanted && page.after.is_none_or(|after| *id < after) {
                picked.push(*rowid);
            }
        }
        let done = picked.len() >= wanted && (!counting || counted > SEARCH_TOTAL_CAP);
        if done || (chunk.len() as u64) < chunk_len {
            break;
        }
        before = chunk.last().map(|(id, _)| *id);
        chunk_len = Ord::min(chunk_len * 2, DENSE_CHUNK_MAX);
    }
    dense_rows(conn, picked, page, with_total, counting.then_some(counted))
}

/// The page of a dense search: the rows picked, and its total. `counted`: the matches
/// counted (up to one past the cap), or `None` when the word alone is known to be in more
/// matters than the cap.
fn dense_rows<T: Listed>(
    conn: &rusqlite::Connection,
    picked: Vec<i64>,
    page: PageRequest,
    with_total: bool,
    counted: Option<u64>,
) -> Result<PageOf<T>> {
    let (total, capped) = match (with_total, counted) {
        (false, _) => (0, false),
        (true, None) => (SEARCH_TOTAL_CAP, true),
        (true, Some(counted)) => capped_total(counted, Some(SEARCH_TOTAL_CAP)),
    };
    let rows = match picked.is_empty() {
        true => Vec::new(),
        false => lite::fetch_all(conn, &rows_by_rowids::<T>(picked), T::from_lite)?,
    };
    Ok(PageOf::from_lookahead(rows, page, total, T::id).capped_if(capped))
}

/// Newest matters a dense search reads and tests itself before it turns to the full-text
/// index chunk by chunk ([`dense_page`]).
const DENSE_SCAN: u64 = 512;

/// What [`dense_scan`] found: rowids of matches, newest first.
enum Scanned {
    /// The page is full, or every matter the filter lets through was read.
    Done(Vec<i64>),
    /// [`DENSE_SCAN`] matters read, the page not yet full; `last` is the id of the oldest.
    Partly { rowids: Vec<i64>, last: Uuid },
}

/// Reads the filtered matters newest first (after the cursor) and tests each one's
/// indexed terms itself, up to [`DENSE_SCAN`] of them. `scan` is [`dense_page`]'s chunk
/// query (id and rowid, newest first). For a word in most matters, the
/// page fills within a few dozen rows; asking the full-text index instead (about the
/// rowids of the newest chunk) costs a seek through every term's list in every segment,
/// which measured four times the cost of the rest of the search together.
fn dense_scan(
    conn: &rusqlite::Connection,
    mut scan: SelectStatement,
    after: Option<Uuid>,
    tokens: &[String],
    wanted: usize,
) -> Result<Scanned> {
    scan.column((Matters::Table, Matters::SearchText))
        .limit(DENSE_SCAN);
    if let Some(after) = after {
        scan.and_where(Expr::col((Matters::Table, Matters::Id)).lt(after));
    }
    let (mut rowids, mut read, mut last) = (Vec::new(), 0u64, None);
    lite::visit_rows(conn, &scan, |row| {
        read += 1;
        last = Some(lite::decode::uuid(row, 0)?);
        let text = row.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
        if holds_every_token(text, tokens) {
            rowids.push(row.get(1)?);
        }
        Ok(rowids.len() < wanted)
    })?;
    Ok(match last {
        Some(last) if rowids.len() < wanted && read == DENSE_SCAN => {
            Scanned::Partly { rowids, last }
        }
        _ => Scanned::Done(rowids),
    })
}

/// Query terms as the full-text index holds them: prefixed with the community.
fn indexed_tokens(community: CommunityId, terms: &[String]) -> Vec<String> {
    let prefix = community_prefix(community);
    terms.iter().map(|t| format!("{prefix}{t}")).collect()
}

/// Whether a matter's `search_text` holds every token. The full-text index's own rule:
/// its `ascii` tokenizer splits `search_text` on spaces alone (migration 0012).
fn holds_every_token(search_text: &str, tokens: &[String]) -> bool {
    tokens
        .iter()
        .all(|token| search_text.split(' ').any(|held| held == token))
}

/// A count read through a statement that stops at one past `cap`: the total to show and
/// whether it is a floor.
fn capped_total(counted: u64, cap: Option<u64>) -> (u64, bool) {
    match cap {
        Some(cap) if counted > cap => (cap, true),
        _ => (counted, false),
    }
}

/// How one page of a list is read: ids first where that is cheaper, else a walk.
struct ListPlan {
    ids_first: Option<IdsFirst>,
    /// Walk the community's matters newest first and stop after the page (and its
    /// look-ahead row): cheap whenever matches are common among recent matters.
    walk: SelectStatement,
    /// What the walk needs to learn the number of matches.
    total: Total,
    /// PostgreSQL text searches past [`SEARCH_TOTAL_CAP`]: the page from the newest
    /// [`NEWEST_CHUNK`] filtered matters, tried before the walk (see [`newest_chunk`]).
    newest_chunk: Option<SelectStatement>,
}

/// How many of the newest filtered matters a PostgreSQL search past the cap tests first.
/// A word in more than a thousand matters fills a page from them unless it is in fewer
/// than one in fifty of the newest.
const NEWEST_CHUNK: u64 = 1_024;

/// Read the id of every match (from an index alone, or the full-text index), count and
/// page them in memory, then read only the page's rows by id. Beats walking when matches
/// are few: a first page must count them anyway, and the walk would read and sort whole
/// rows (a status filter on a grid yields one sorted run per status) or test every newer
/// matter against a rare word.
struct IdsFirst {
    ids: SelectStatement,
    /// Give up and walk when there are more matches than this (the statement reads one
    /// more, so a full read is recognisable).
    cap: Option<usize>,
}

impl IdsFirst {
    fn holds_all(&self, read: usize) -> bool {
        self.cap.is_none_or(|cap| read <= cap)
    }
}

/// Matches a first page of a list without search terms pages in memory at most, before
/// it walks instead.
const IDS_FIRST_CAP: usize = 5_000;

/// How a walked page learns the number of matches.
enum Total {
    /// Not asked for (a later page).
    Skipped,
    /// Counted already (a SQLite text search with no other filter: in the FTS5 index).
    Known(u64),
    /// Known to be past [`SEARCH_TOTAL_CAP`] already: a text search whose ids did not fit.
    Capped,
    /// Counted by this statement, which stops at one past `cap` when there is one (text
    /// searches).
    Count {
        statement: Box<SelectStatement>,
        cap: Option<u64>,
    },
}

impl Total {
    /// The total and whether it is a floor, for every way but [`Total::Count`] (which
    /// reads it).
    fn settled(&self) -> (u64, bool) {
        match self {
            Total::Skipped | Total::Count { .. } => (0, false),
            Total::Known(n) => (*n, false),
            Total::Capped => (SEARCH_TOTAL_CAP, true),
        }
    }
}

impl ListPlan {
    /// `None` when the grid filter leaves nothing to see. `matches`: on SQLite, how many
    /// matters hold the search terms, counted before planning.
    fn new<T: Listed>(
        engine: Engine,
        community: CommunityId,
        grids: &GridFilter,
        f: &MatterFilter,
        page: PageRequest,
        with_total: bool,
        matches: Option<TextMatches>,
    ) -> Option<ListPlan> {
        let filter = filtered(engine, community, grids, f, matches)?;
        let searching = !f.terms.is_empty();
        let mut ids = filter.clone();
        ids.column((Matters::Table, Matters::Id));
        let narrowed = *f != MatterFilter::default() || *grids != GridFilter::All;
        let ids_first = match (engine, matches) {
            // Every match fits: the full-text index counted them.
            (Engine::Sqlite, Some(TextMatches::Few(_))) => Some(IdsFirst { ids, cap: None }),
            // A word in most matters: straight to the walk.
            (Engine::Sqlite, Some(TextMatches::Many)) => None,
            // PostgreSQL counts in the same read: past the cap it walks instead.
            _ if searching => {
                ids.limit(SEARCH_TOTAL_CAP + 1);
                Some(IdsFirst {
                    ids,
                    cap: Some(SEARCH_TOTAL_CAP as usize),
                })
            }
            _ if with_total && narrowed => {
                ids.limit(IDS_FIRST_CAP as u64 + 1);
                Some(IdsFirst {
                    ids,
                    cap: Some(IDS_FIRST_CAP),
                })
            }
            _ => None,
        };
        let text_only =
            searching && f.without_terms() == MatterFilter::default() && *grids == GridFilter::All;
        let total = match (with_total, matches) {
            (false, _) => Total::Skipped,
            (true, Some(TextMatches::Few(n))) if text_only => Total::Known(n),
            (true, Some(TextMatches::Many)) if text_only => Total::Capped,
            // The ids of a search read up to the cap: the walk comes after they overflowed.
            (true, None) if searching => Total::Capped,
            (true, _) => {
                let mut count = filter.clone();
                if searching {
                    count.expr(Expr::val(1)).limit(SEARCH_TOTAL_CAP + 1);
                    count = Query::select()
                        .expr(Func::count(Expr::val(1)))
                        .from_subquery(count, sea_query::Alias::new("capped"))
                        .to_owned();
                } else {
                    count.expr(Func::count(Expr::col((Matters::Table, Matters::Id))));
                }
                Total::Count {
                    statement: Box::new(count),
                    cap: searching.then_some(SEARCH_TOTAL_CAP),
                }
            }
        };
        let newest_chunk = (engine == Engine::Postgres && searching)
            .then(|| newest_chunk::<T>(community, grids, f, page))
            .flatten();
        let mut walk = filter;
        T::columns(&mut walk);
        if let Some(after) = page.after {
            walk.and_where(Expr::col((Matters::Table, Matters::Id)).lt(after));
        }
        walk.order_by((Matters::Table, Matters::Id), Order::Desc)
            .limit(page.fetch_limit());
        Some(ListPlan {
            ids_first,
            walk,
            total,
            newest_chunk,
        })
    }
}

/// A page's rows by id, newest first.
fn rows_by_ids<T: Listed>(community: CommunityId, ids: Vec<Uuid>) -> SelectStatement {
    select_of::<T>()
        .and_where(Expr::col((Matters::Table, Matters::CommunityId)).eq(community.0))
        .and_where(Expr::col((Matters::Table, Matters::Id)).is_in(ids))
        .order_by((Matters::Table, Matters::Id), Order::Desc)
        .to_owned()
}

/// A PostgreSQL search's page among the newest [`NEWEST_CHUNK`] matters the other filters
/// leave, newest first: the inner LIMIT makes PostgreSQL walk them in id order and test the
/// words row by row. The plain walk leaves that choice to the planner, whose statistics
/// can lag far behind a word that has just become common (until the next `ANALYZE`, it
/// then reads every match through the full-text index and sorts them: 135 ms for 84,000
/// matches, against about 1 ms for this). When the chunk holds a whole page, that page is
/// the newest overall: every matter newer than its last row is in the chunk.
fn newest_chunk<T: Listed>(
    community: CommunityId,
    grids: &GridFilter,
    f: &MatterFilter,
    page: PageRequest,
) -> Option<SelectStatement> {
    let mut newest = filtered(Engine::Postgres, community, grids, &f.without_terms(), None)?;
    T::columns(&mut newest);
    newest.expr(Expr::cust("matters.search_text"));
    if let Some(after) = page.after {
        newest.and_where(Expr::col((Matters::Table, Matters::Id)).lt(after));
    }
    newest
        .order_by((Matters::Table, Matters::Id), Order::Desc)
        .limit(NEWEST_CHUNK);
    // Named `matters`, the subquery answers to the same column references as the table.
    let mut page_of = Query::select()
        .from_subquery(newest, Matters::Table)
        .to_owned();
    T::columns(&mut page_of);
    page_of
        .and_where(terms_in_search_text(community, &f.terms))
        .order_by((Matters::Table, Matters::Id), Order::Desc)
        .limit(page.fetch_limit());
    Some(page_of)
}

/// A page's rows by SQLite rowid, newest first. Cheaper than [`rows_by_ids`] beyond the
/// direct lookup: STAT4 makes SQLite re-plan a statement whenever a value is bound to an
/// `IN` list over an indexed column (every request), but not over the rowid.
fn rows_by_rowids<T: Listed>(rowids: impl IntoIterator<Item = i64>) -> SelectStatement {
    select_of::<T>()
        .and_where(Expr::col((Matters::Table, sea_query::Alias::new("rowid"))).is_in(rowids))
        .order_by((Matters::Table, Matters::Id), Order::Desc)
        .to_owned()
}

/// How many of a community's matters hold every term, counted in the FTS5 index alone
/// (terms carry the community prefix, so no join is needed) and only up to one past
/// [`SEARCH_TOTAL_CAP`]: FTS5 reads the term lists lazily, so the LIMIT bounds the work.
fn fts_count(community: CommunityId, terms: &[String]) -> SelectStatement {
    let query = fts_query(&community_prefix(community), terms);
    let matches = Query::select()
        .column(sea_query::Alias::new("rowid"))
        .from(sea_query::Alias::new("matter_search"))
        .and_where(Expr::cust_with_values("matter_search MATCH ?", [query]))
        .limit(SEARCH_TOTAL_CAP + 1)
        .to_owned();
    Query::select()
        .expr(Func::count(Expr::val(1)))
        .from_subquery(matches, sea_query::Alias::new("capped"))
        .to_owned()
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CountRow {
    pub grid_id: Option<Uuid>,
    pub status: String,
    pub class: Option<String>,
    pub n: i64,
}

/// Matters the caller may see, counted by grid, status and class.
pub async fn counts(
    ex: &mut Exec<'_>,
    community: CommunityId,
    grids: &GridFilter,
) -> Result<Vec<CountRow>> {
    let mut q = Query::select()
        .column(Matters::GridId)
        .column(Matters::Status)
        .column(Matters::Class)
        .expr_as(Func::count(Expr::col(Matters::Id)), "n")
        .from(Matters::Table)
        .and_where(Expr::col(Matters::CommunityId).eq(community.0))
        .group_by_col(Matters::GridId)
        .group_by_col(Matters::Status)
        .group_by_col(Matters::Class)
        .to_owned();
    if !apply_grid_filter(&mut q, (Matters::Table, Matters::GridId), grids) {
        return Ok(Vec::new());
    }
    ex.fetch_all(&q).await
}
