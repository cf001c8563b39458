//! Residents: who lives in the community. Document numbers and phones arrive sealed; the
//! store keeps them as given and finds them only through their blind index.

use chrono::{DateTime, NaiveDate, Utc};
use linli_domain::auth::GridFilter;
use linli_domain::registry::search::{Term, name_terms};
use linli_domain::{AccountId, BuildingId, CommunityId, GridId, HouseholdId, ResidentId};
use sea_query::{Expr, ExprTrait, Order, Query, SelectStatement};
use uuid::Uuid;

use super::places::{apply_grid_filter, count_of};
use super::{INSERT_BATCH, Sealed};
use crate::schema::Residents;
use crate::{Engine, Exec, PageOf, PageRequest, Result};

#[derive(Debug, Clone)]
pub struct NewResident {
    pub id: ResidentId,
    pub name: String,
    pub gender: Option<&'static str>,
    pub birth_date: Option<NaiveDate>,
    pub document_kind: Option<&'static str>,
    pub document: Option<Sealed>,
    pub phone: Option<Sealed>,
    pub household_id: Option<HouseholdId>,
    pub building_id: Option<BuildingId>,
    pub grid_id: Option<GridId>,
    pub party_status: Option<&'static str>,
    pub party_organisation: Option<String>,
    pub skills: Vec<String>,
    pub tags: Vec<String>,
    pub account_id: Option<AccountId>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ResidentRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub name: String,
    pub gender: Option<String>,
    pub birth_date: Option<NaiveDate>,
    pub document_kind: Option<String>,
    pub document_enc: Option<Vec<u8>>,
    pub phone_enc: Option<Vec<u8>>,
    pub household_id: Option<Uuid>,
    pub building_id: Option<Uuid>,
    pub grid_id: Option<Uuid>,
    pub party_status: Option<String>,
    pub party_organisation: Option<String>,
    pub skills: String,
    pub tags: String,
    pub account_id: Option<Uuid>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl ResidentRow {
    pub fn resident_id(&self) -> ResidentId {
        ResidentId(self.id)
    }

    pub fn skills(&self) -> Vec<String> {
        serde_json::from_str(&self.skills).unwrap_or_default()
    }

    pub fn tags(&self) -> Vec<String> {
        serde_json::from_str(&self.tags).unwrap_or_default()
    }
}

/// Every search term is prefixed with its community (`k` + the random tail of the
/// community's UUIDv7), so "王 in Xinhe" is one term of the index with a posting list as
/// long as Xinhe's 王s, whether the table holds one community or a district of fifty:
/// no intersection with a list of every resident of the community.
pub(crate) fn community_prefix(community: CommunityId) -> String {
    let hex = community.0.simple().to_string();
    format!("k{}", &hex[16..])
}

/// What the full-text index holds for a resident.
pub fn search_text(community: CommunityId, name: &str) -> String {
    let prefix = community_prefix(community);
    name_terms(name)
        .iter()
        .map(|term| format!("{prefix}{term}"))
        .collect::<Vec<_>>()
        .join(" ")
}

pub async fn insert_residents(
    ex: &mut Exec<'_>,
    community: CommunityId,
    residents: &[NewResident],
    now: DateTime<Utc>,
) -> Result<()> {
    for chunk in residents.chunks(INSERT_BATCH) {
        let mut q = Query::insert()
            .into_table(Residents::Table)
            .columns([
                Residents::CommunityId,
                Residents::Id,
                Residents::Name,
                Residents::Gender,
                Residents::BirthDate,
                Residents::DocumentKind,
                Residents::DocumentEnc,
                Residents::DocumentIdx,
                Residents::PhoneEnc,
                Residents::PhoneIdx,
                Residents::HouseholdId,
                Residents::BuildingId,
                Residents::GridId,
                Residents::PartyStatus,
                Residents::PartyOrganisation,
                Residents::Skills,
                Residents::Tags,
                Residents::AccountId,
                Residents::SearchText,
                Residents::Version,
                Residents::CreatedAt,
                Residents::UpdatedAt,
            ])
            .to_owned();
        for r in chunk {
            q.values_panic([
                community.0.into(),
                r.id.0.into(),
                r.name.clone().into(),
                r.gender.into(),
                r.birth_date.into(),
                r.document_kind.into(),
                r.document.as_ref().map(|s| s.enc.clone()).into(),
                r.document.as_ref().map(|s| s.idx.clone()).into(),
                r.phone.as_ref().map(|s| s.enc.clone()).into(),
                r.phone.as_ref().map(|s| s.idx.clone()).into(),
                r.household_id.map(|h| h.0).into(),
                r.building_id.map(|b| b.0).into(),
                r.grid_id.map(|g| g.0).into(),
                r.party_status.into(),
                r.party_organisation.clone().into(),
                serde_json::to_string(&r.skills)
                    .expect("strings serialise")
                    .into(),
                serde_json::to_string(&r.tags)
                    .expect("strings serialise")
                    .into(),
                r.account_id.map(|a| a.0).into(),
                search_text(community, &r.name).into(),
                1i64.into(),
                now.into(),
                now.into(),
            ]);
        }
        ex.execute(&q).await?;
    }
    Ok(())
}

fn resident_columns() -> SelectStatement {
    Query::select()
        .columns([
            (Residents::Table, Residents::CommunityId),
            (Residents::Table, Residents::Id),
            (Residents::Table, Residents::Name),
            (Residents::Table, Residents::Gender),
            (Residents::Table, Residents::BirthDate),
            (Residents::Table, Residents::DocumentKind),
            (Residents::Table, Residents::DocumentEnc),
            (Residents::Table, Residents::PhoneEnc),
            (Residents::Table, Residents::HouseholdId),
            (Residents::Table, Residents::BuildingId),
            (Residents::Table, Residents::GridId),
            (Residents::Table, Residents::PartyStatus),
            (Residents::Table, Residents::PartyOrganisation),
            (Residents::Table, Residents::Skills),
            (Residents::Table, Residents::Tags),
            (Residents::Table, Residents::AccountId),
            (Residents::Table, Residents::Version),
            (Residents::Table, Residents::CreatedAt),
            (Residents::Table, Residents::UpdatedAt),
        ])
        .from(Residents::Table)
        .to_owned()
}

/// A resident in any community; the caller authorizes against its community and grid.
pub async fn find_resident(ex: &mut Exec<'_>, id: ResidentId) -> Result<Option<ResidentRow>> {
    let q = resident_columns()
        .and_where(Expr::col((Residents::Table, Residents::Id)).eq(id.0))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// The resident record an account belongs to in a community, if any.
pub async fn find_resident_by_account(
    ex: &mut Exec<'_>,
    community: CommunityId,
    account: AccountId,
) -> Result<Option<ResidentRow>> {
    let q = resident_columns()
        .and_where(Expr::col((Residents::Table, Residents::CommunityId)).eq(community.0))
        .and_where(Expr::col((Residents::Table, Residents::AccountId)).eq(account.0))
        .to_owned();
    ex.fetch_optional(&q).await
}

/// Where a resident lives, as authorization needs it: their community and grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct ResidentPlace {
    pub community_id: Uuid,
    pub grid_id: Option<Uuid>,
}

/// A resident's community and grid, by id alone: on SQLite through the direct lane, for
/// the busy ledger paths (an award names its resident).
pub async fn locate(db: &crate::Db, id: ResidentId) -> Result<Option<ResidentPlace>> {
    let q = Query::select()
        .columns([Residents::CommunityId, Residents::GridId])
        .from(Residents::Table)
        .and_where(Expr::col(Residents::Id).eq(id.0))
        .to_owned();
    let Some(lite) = db.lite() else {
        let mut conn = db.acquire().await?;
        return conn.exec().fetch_optional(&q).await;
    };
    lite.read(move |conn| {
        let rows = crate::lite::fetch_all(conn, &q, |r| {
            use crate::lite::decode::{opt_uuid, uuid};
            Ok(ResidentPlace {
                community_id: uuid(r, 0)?,
                grid_id: opt_uuid(r, 1)?,
            })
        })?;
        Ok(rows.into_iter().next())
    })
    .await
}

/// Who a report comes from, as a matter records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct Reporter {
    pub id: Uuid,
    pub grid_id: Option<Uuid>,
    pub account_id: Option<Uuid>,
}

/// The resident record of the account in this community, if it has one: on a connection
/// of its own (on SQLite, the direct lane), for the busiest write there is, a report.
pub async fn find_reporter(
    db: &crate::Db,
    community: CommunityId,
    account: AccountId,
) -> Result<Option<Reporter>> {
    let q = Query::select()
        .columns([Residents::Id, Residents::GridId, Residents::AccountId])
        .from(Residents::Table)
        .and_where(Expr::col(Residents::CommunityId).eq(community.0))
        .and_where(Expr::col(Residents::AccountId).eq(account.0))
        .to_owned();
    let Some(lite) = db.lite() else {
        let mut conn = db.acquire().await?;
        return conn.exec().fetch_optional(&q).await;
    };
    lite.read(move |conn| {
        let rows = crate::lite::fetch_all(conn, &q, |r| {
            use crate::lite::decode::{opt_uuid, uuid};
            Ok(Reporter {
                id: uuid(r, 0)?,
                grid_id: opt_uuid(r, 1)?,
                account_id: opt_uuid(r, 2)?,
            })
        })?;
        Ok(rows.into_iter().next())
    })
    .await
}

/// How a list of residents is narrowed.
#[derive(Debug, Clone, Default)]
pub struct ResidentFilter {
    pub building: Option<BuildingId>,
    pub household: Option<HouseholdId>,
    pub grid: Option<GridId>,
    pub search: Option<ResidentSearch>,
}

/// A search the store can run: exact through a blind index, or by name terms.
#[derive(Debug, Clone)]
pub enum ResidentSearch {
    DocumentIdx(Vec<u8>),
    PhoneIdx(Vec<u8>),
    Name(Vec<Term>),
}

/// The engine's full-text condition for name terms, in the community. (sea-query's
/// placeholder in custom SQL is the engine's own: `?` for SQLite, `$1` for PostgreSQL.)
fn name_condition(engine: Engine, community: CommunityId, terms: &[Term]) -> Expr {
    let prefix = community_prefix(community);
    match engine {
        Engine::Sqlite => {
            // FTS5 query syntax: quoted terms ANDed; `*` after the quote makes a prefix.
            let query = terms
                .iter()
                .map(|t| format!("\"{prefix}{}\"{}", t.text, if t.prefix { "*" } else { "" }))
                .collect::<Vec<_>>()
                .join(" AND ");
            Expr::cust_with_values(
                "residents.rowid IN (SELECT rowid FROM resident_search WHERE resident_search MATCH ?)",
                [query],
            )
        }
        Engine::Postgres => {
            let query = terms
                .iter()
                .map(|t| format!("{prefix}{}{}", t.text, if t.prefix { ":*" } else { "" }))
                .collect::<Vec<_>>()
                .join(" & ");
            Expr::cust_with_values(
                "to_tsvector('simple', residents.search_text) @@ to_tsquery('simple', $1)",
                [query],
            )
        }
    }
}

/// Residents of a community the caller may see, narrowed by `filter`, in id order.
pub async fn list_residents(
    ex: &mut Exec<'_>,
    community: CommunityId,
    grids: &GridFilter,
    filter: &ResidentFilter,
    page: PageRequest,
) -> Result<PageOf<ResidentRow>> {
    let mut q = resident_columns()
        .and_where(Expr::col((Residents::Table, Residents::CommunityId)).eq(community.0))
        .to_owned();
    if !apply_grid_filter(&mut q, (Residents::Table, Residents::GridId), grids) {
        return Ok(PageOf::empty());
    }
    if let Some(b) = filter.building {
        q.and_where(Expr::col((Residents::Table, Residents::BuildingId)).eq(b.0));
    }
    if let Some(h) = filter.household {
        q.and_where(Expr::col((Residents::Table, Residents::HouseholdId)).eq(h.0));
    }
    if let Some(g) = filter.grid {
        q.and_where(Expr::col((Residents::Table, Residents::GridId)).eq(g.0));
    }
    match &filter.search {
        None => {}
        Some(ResidentSearch::DocumentIdx(idx)) => {
            q.and_where(Expr::col((Residents::Table, Residents::DocumentIdx)).eq(idx.clone()));
        }
        Some(ResidentSearch::PhoneIdx(idx)) => {
            q.and_where(Expr::col((Residents::Table, Residents::PhoneIdx)).eq(idx.clone()));
        }
        Some(ResidentSearch::Name(terms)) => {
            q.and_where(name_condition(ex.engine(), community, terms));
        }
    }
    if filter.search.is_some() {
        return page_by_ids(ex, community, q, page).await;
    }
    let total = count_of(ex, &q, (Residents::Table, Residents::Id)).await?;
    if let Some(after) = page.after {
        q.and_where(Expr::col((Residents::Table, Residents::Id)).gt(after));
    }
    q.order_by((Residents::Table, Residents::Id), Order::Asc)
        .limit(page.fetch_limit());
    let rows = ex.fetch_all(&q).await?;
    Ok(PageOf::from_lookahead(
        rows,
        page,
        total,
        |r: &ResidentRow| r.id,
    ))
}

/// A search evaluates its condition once: it reads just the ids of every match (a
/// surname matches a few thousand at most in one community, a phone one or two), counts
/// and pages them here, then reads the page's rows by id. Counting and paging in SQL would
/// run a full-text match twice and sort whole rows; and without `ORDER BY id LIMIT` the
/// planner has no reason to prefer walking the community in id order over the phone or
/// document index, whatever its statistics say.
async fn page_by_ids(
    ex: &mut Exec<'_>,
    community: CommunityId,
    mut q: SelectStatement,
    page: PageRequest,
) -> Result<PageOf<ResidentRow>> {
    q.clear_selects();
    q.column((Residents::Table, Residents::Id));
    let ids: Vec<Uuid> = ex
        .fetch_all::<(Uuid,), _>(&q)
        .await?
        .into_iter()
        .map(|(id,)| id)
        .collect();
    let (total, wanted) = page.slice_ids(ids, crate::page::Direction::Ascending);
    if wanted.is_empty() {
        return Ok(PageOf {
            total,
            ..PageOf::empty()
        });
    }
    let rows_q = resident_columns()
        .and_where(Expr::col((Residents::Table, Residents::CommunityId)).eq(community.0))
        .and_where(Expr::col((Residents::Table, Residents::Id)).is_in(wanted))
        .order_by((Residents::Table, Residents::Id), Order::Asc)
        .to_owned();
    let rows = ex.fetch_all(&rows_q).await?;
    Ok(PageOf::from_lookahead(
        rows,
        page,
        total,
        |r: &ResidentRow| r.id,
    ))
}

/// Whether a document's blind index is already registered in the community.
pub async fn document_registered(
    ex: &mut Exec<'_>,
    community: CommunityId,
    idx: &[u8],
) -> Result<Option<ResidentId>> {
    let q = Query::select()
        .column(Residents::Id)
        .from(Residents::Table)
        .and_where(Expr::col(Residents::CommunityId).eq(community.0))
        .and_where(Expr::col(Residents::DocumentIdx).eq(idx.to_vec()))
        .to_owned();
    let row: Option<(Uuid,)> = ex.fetch_optional(&q).await?;
    Ok(row.map(|(id,)| ResidentId(id)))
}

/// A resident's own correction of their contact details, guarded by the version they
/// read. `false` when someone changed the record in between.
pub async fn update_contact(
    ex: &mut Exec<'_>,
    community: CommunityId,
    resident: ResidentId,
    expected_version: i64,
    phone: Option<&Sealed>,
    now: DateTime<Utc>,
) -> Result<bool> {
    let q = Query::update()
        .table(Residents::Table)
        .value(Residents::PhoneEnc, phone.map(|s| s.enc.clone()))
        .value(Residents::PhoneIdx, phone.map(|s| s.idx.clone()))
        .value(Residents::Version, expected_version + 1)
        .value(Residents::UpdatedAt, now)
        .and_where(Expr::col(Residents::CommunityId).eq(community.0))
        .and_where(Expr::col(Residents::Id).eq(resident.0))
        .and_where(Expr::col(Residents::Version).eq(expected_version))
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}

/// Every resident of a community the caller may see, in id order (exports).
pub async fn all_residents(
    ex: &mut Exec<'_>,
    community: CommunityId,
    grids: &GridFilter,
) -> Result<Vec<ResidentRow>> {
    let mut q = resident_columns()
        .and_where(Expr::col((Residents::Table, Residents::CommunityId)).eq(community.0))
        .order_by((Residents::Table, Residents::Id), Order::Asc)
        .to_owned();
    if !apply_grid_filter(&mut q, (Residents::Table, Residents::GridId), grids) {
        return Ok(Vec::new());
    }
    ex.fetch_all(&q).await
}

/// The blind indexes of every document registered in a community (duplicate checks of
/// an import, done in memory rather than one query per row).
pub async fn document_indexes(
    ex: &mut Exec<'_>,
    community: CommunityId,
) -> Result<std::collections::HashSet<Vec<u8>>> {
    let q = Query::select()
        .column(Residents::DocumentIdx)
        .from(Residents::Table)
        .and_where(Expr::col(Residents::CommunityId).eq(community.0))
        .and_where(Expr::col(Residents::DocumentIdx).is_not_null())
        .to_owned();
    let rows: Vec<(Vec<u8>,)> = ex.fetch_all(&q).await?;
    Ok(rows.into_iter().map(|(idx,)| idx).collect())
}
