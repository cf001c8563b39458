//! What the registry keeps about people beyond the resident record: guardians of minors,
//! consents to process sensitive data, and the sensitive tags themselves.

use chrono::{DateTime, Utc};
use linli_domain::{AccountId, CommunityId, ConsentId, ResidentId};
use sea_query::{Expr, ExprTrait, Order, Query};
use uuid::Uuid;

use super::{INSERT_BATCH, Sealed};
use crate::schema::{Consents, Guardians, ResidentSensitiveTags};
use crate::{Exec, Result};

#[derive(Debug, Clone)]
pub struct NewGuardian {
    pub minor: ResidentId,
    pub guardian: ResidentId,
    pub relation: String,
}

pub async fn insert_guardians(
    ex: &mut Exec<'_>,
    community: CommunityId,
    rows: &[NewGuardian],
    now: DateTime<Utc>,
) -> Result<()> {
    for chunk in rows.chunks(INSERT_BATCH) {
        let mut q = Query::insert()
            .into_table(Guardians::Table)
            .columns([
                Guardians::CommunityId,
                Guardians::MinorId,
                Guardians::GuardianId,
                Guardians::Relation,
                Guardians::CreatedAt,
            ])
            .to_owned();
        for g in chunk {
            q.values_panic([
                community.0.into(),
                g.minor.0.into(),
                g.guardian.0.into(),
                g.relation.clone().into(),
                now.into(),
            ]);
        }
        ex.execute(&q).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct GuardianRow {
    pub minor_id: Uuid,
    pub guardian_id: Uuid,
    pub relation: String,
}

/// Guardians of a minor, or the minors a resident is guardian of.
pub async fn guardians_of(
    ex: &mut Exec<'_>,
    community: CommunityId,
    resident: ResidentId,
) -> Result<Vec<GuardianRow>> {
    let q = Query::select()
        .columns([
            Guardians::MinorId,
            Guardians::GuardianId,
            Guardians::Relation,
        ])
        .from(Guardians::Table)
        .and_where(Expr::col(Guardians::CommunityId).eq(community.0))
        .and_where(
            Expr::col(Guardians::MinorId)
                .eq(resident.0)
                .or(Expr::col(Guardians::GuardianId).eq(resident.0)),
        )
        .to_owned();
    ex.fetch_all(&q).await
}

/// Purposes for which consent is recorded; the registry checks these codes.
pub mod purpose {
    /// Registering a child under 14 (guardian's consent, PIPL art. 31).
    pub const MINOR_REGISTRATION: &str = "minor_registration";
    /// Recording special-group tags to provide care (PIPL art. 29 separate consent).
    pub const SPECIAL_GROUP_CARE: &str = "special_group_care";
}

#[derive(Debug, Clone)]
pub struct NewConsent {
    pub id: ConsentId,
    pub resident: ResidentId,
    pub purpose: &'static str,
    pub given_by: ResidentId,
    pub method: &'static str,
    pub given_at: DateTime<Utc>,
    pub recorded_by: Option<AccountId>,
}

pub async fn insert_consents(
    ex: &mut Exec<'_>,
    community: CommunityId,
    rows: &[NewConsent],
) -> Result<()> {
    for chunk in rows.chunks(INSERT_BATCH) {
        let mut q = Query::insert()
            .into_table(Consents::Table)
            .columns([
                Consents::CommunityId,
                Consents::Id,
                Consents::ResidentId,
                Consents::Purpose,
                Consents::GivenByResidentId,
                Consents::Method,
                Consents::GivenAt,
                Consents::RecordedBy,
            ])
            .to_owned();
        for c in chunk {
            q.values_panic([
                community.0.into(),
                c.id.0.into(),
                c.resident.0.into(),
                c.purpose.into(),
                c.given_by.0.into(),
                c.method.into(),
                c.given_at.into(),
                c.recorded_by.map(|a| a.0).into(),
            ]);
        }
        ex.execute(&q).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsentRow {
    pub id: Uuid,
    pub resident_id: Uuid,
    pub purpose: String,
    pub given_by_resident_id: Uuid,
    pub method: String,
    pub given_at: DateTime<Utc>,
    pub withdrawn_at: Option<DateTime<Utc>>,
}

pub async fn consents_of(
    ex: &mut Exec<'_>,
    community: CommunityId,
    resident: ResidentId,
) -> Result<Vec<ConsentRow>> {
    let q = Query::select()
        .columns([
            Consents::Id,
            Consents::ResidentId,
            Consents::Purpose,
            Consents::GivenByResidentId,
            Consents::Method,
            Consents::GivenAt,
            Consents::WithdrawnAt,
        ])
        .from(Consents::Table)
        .and_where(Expr::col(Consents::CommunityId).eq(community.0))
        .and_where(Expr::col(Consents::ResidentId).eq(resident.0))
        .order_by(Consents::GivenAt, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// The live (not withdrawn) consent of a resident for a purpose, if any.
pub async fn live_consent(
    ex: &mut Exec<'_>,
    community: CommunityId,
    resident: ResidentId,
    purpose: &str,
) -> Result<Option<ConsentId>> {
    let q = Query::select()
        .column(Consents::Id)
        .from(Consents::Table)
        .and_where(Expr::col(Consents::CommunityId).eq(community.0))
        .and_where(Expr::col(Consents::ResidentId).eq(resident.0))
        .and_where(Expr::col(Consents::Purpose).eq(purpose))
        .and_where(Expr::col(Consents::WithdrawnAt).is_null())
        .to_owned();
    let row: Option<(Uuid,)> = ex.fetch_optional(&q).await?;
    Ok(row.map(|(id,)| ConsentId(id)))
}

/// Withdraws a consent; `false` when it was not live.
pub async fn withdraw_consent(
    ex: &mut Exec<'_>,
    community: CommunityId,
    consent: ConsentId,
    now: DateTime<Utc>,
) -> Result<bool> {
    let q = Query::update()
        .table(Consents::Table)
        .value(Consents::WithdrawnAt, now)
        .and_where(Expr::col(Consents::CommunityId).eq(community.0))
        .and_where(Expr::col(Consents::Id).eq(consent.0))
        .and_where(Expr::col(Consents::WithdrawnAt).is_null())
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}

#[derive(Debug, Clone)]
pub struct NewSensitiveTag {
    pub resident: ResidentId,
    pub tag: Sealed,
    pub consent: Option<ConsentId>,
    pub recorded_by: Option<AccountId>,
}

pub async fn insert_sensitive_tags(
    ex: &mut Exec<'_>,
    community: CommunityId,
    rows: &[NewSensitiveTag],
    now: DateTime<Utc>,
) -> Result<()> {
    for chunk in rows.chunks(INSERT_BATCH) {
        let mut q = Query::insert()
            .into_table(ResidentSensitiveTags::Table)
            .columns([
                ResidentSensitiveTags::CommunityId,
                ResidentSensitiveTags::ResidentId,
                ResidentSensitiveTags::TagIdx,
                ResidentSensitiveTags::TagEnc,
                ResidentSensitiveTags::ConsentId,
                ResidentSensitiveTags::RecordedBy,
                ResidentSensitiveTags::RecordedAt,
            ])
            .to_owned();
        for t in chunk {
            q.values_panic([
                community.0.into(),
                t.resident.0.into(),
                t.tag.idx.clone().into(),
                t.tag.enc.clone().into(),
                t.consent.map(|c| c.0).into(),
                t.recorded_by.map(|a| a.0).into(),
                now.into(),
            ]);
        }
        ex.execute(&q).await?;
    }
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SensitiveTagRow {
    pub resident_id: Uuid,
    pub tag_enc: Vec<u8>,
    pub consent_id: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
}

pub async fn sensitive_tags_of(
    ex: &mut Exec<'_>,
    community: CommunityId,
    resident: ResidentId,
) -> Result<Vec<SensitiveTagRow>> {
    let q = Query::select()
        .columns([
            ResidentSensitiveTags::ResidentId,
            ResidentSensitiveTags::TagEnc,
            ResidentSensitiveTags::ConsentId,
            ResidentSensitiveTags::RecordedAt,
        ])
        .from(ResidentSensitiveTags::Table)
        .and_where(Expr::col(ResidentSensitiveTags::CommunityId).eq(community.0))
        .and_where(Expr::col(ResidentSensitiveTags::ResidentId).eq(resident.0))
        .order_by(ResidentSensitiveTags::RecordedAt, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// Deletes the sensitive tags recorded under a consent (its withdrawal ends the purpose,
/// PIPL art. 47). Returns how many went.
pub async fn delete_tags_of_consent(
    ex: &mut Exec<'_>,
    community: CommunityId,
    resident: ResidentId,
    consent: ConsentId,
) -> Result<u64> {
    let q = Query::delete()
        .from_table(ResidentSensitiveTags::Table)
        .and_where(Expr::col(ResidentSensitiveTags::CommunityId).eq(community.0))
        .and_where(Expr::col(ResidentSensitiveTags::ResidentId).eq(resident.0))
        .and_where(Expr::col(ResidentSensitiveTags::ConsentId).eq(consent.0))
        .to_owned();
    ex.execute(&q).await
}
