//! Earning rules, stored one row per version.

use chrono::{DateTime, Utc};
use linli_domain::auth::Role;
use linli_domain::points::{Basis, PointsRule, RuleDraft};
use linli_domain::{AccountId, CommunityId};
use sea_query::{Expr, ExprTrait, Order, Query, SelectStatement};
use uuid::Uuid;

use crate::audit::AuditEvent;
use crate::schema::PointsRules;
use crate::{Db, Exec, Result, StoreError};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RuleRow {
    pub id: Uuid,
    pub code: String,
    pub version: i64,
    pub name_zh: String,
    pub name_en: String,
    pub basis: String,
    pub points: i64,
    pub rounding_minutes: i64,
    pub min_minutes: i64,
    pub per_occasion_cap: Option<i64>,
    pub per_day_cap: Option<i64>,
    pub per_month_cap: Option<i64>,
    pub verifier_role: Option<String>,
    pub approval_threshold: Option<i64>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub superseded_at: Option<DateTime<Utc>>,
}

impl crate::run::FromLite for RuleRow {
    fn from_lite(r: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        use crate::lite::decode::{opt_time, time, uuid};
        Ok(RuleRow {
            id: uuid(r, 0)?,
            code: r.get(1)?,
            version: r.get(2)?,
            name_zh: r.get(3)?,
            name_en: r.get(4)?,
            basis: r.get(5)?,
            points: r.get(6)?,
            rounding_minutes: r.get(7)?,
            min_minutes: r.get(8)?,
            per_occasion_cap: r.get(9)?,
            per_day_cap: r.get(10)?,
            per_month_cap: r.get(11)?,
            verifier_role: r.get(12)?,
            approval_threshold: r.get(13)?,
            active: r.get(14)?,
            created_at: time(r, 15)?,
            superseded_at: opt_time(r, 16)?,
        })
    }
}

impl RuleRow {
    /// The rule as the domain reads it.
    pub fn rule(&self) -> Result<PointsRule> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("points rule {}: {what}", self.id));
        let minutes = |v: i64| u32::try_from(v).map_err(|_| corrupt("minutes"));
        Ok(PointsRule {
            version: i32::try_from(self.version).map_err(|_| corrupt("version"))?,
            draft: RuleDraft {
                code: self.code.clone(),
                name_zh: self.name_zh.clone(),
                name_en: self.name_en.clone(),
                basis: Basis::parse(&self.basis).ok_or_else(|| corrupt("basis"))?,
                points: self.points,
                rounding_minutes: minutes(self.rounding_minutes)?,
                min_minutes: minutes(self.min_minutes)?,
                per_occasion_cap: self.per_occasion_cap,
                per_day_cap: self.per_day_cap,
                per_month_cap: self.per_month_cap,
                verifier_role: match &self.verifier_role {
                    Some(r) => Some(Role::parse(r).map_err(|_| corrupt("verifier role"))?),
                    None => None,
                },
                approval_threshold: self.approval_threshold,
                active: self.active,
            },
        })
    }
}

pub(crate) fn rule_columns() -> SelectStatement {
    Query::select()
        .columns([
            PointsRules::Id,
            PointsRules::Code,
            PointsRules::Version,
            PointsRules::NameZh,
            PointsRules::NameEn,
            PointsRules::Basis,
            PointsRules::Points,
            PointsRules::RoundingMinutes,
            PointsRules::MinMinutes,
            PointsRules::PerOccasionCap,
            PointsRules::PerDayCap,
            PointsRules::PerMonthCap,
            PointsRules::VerifierRole,
            PointsRules::ApprovalThreshold,
            PointsRules::Active,
            PointsRules::CreatedAt,
            PointsRules::SupersededAt,
        ])
        .from(PointsRules::Table)
        .to_owned()
}

/// The current version of every rule of a community, by code.
pub(crate) fn current_rule_query(community: CommunityId, code: &str) -> SelectStatement {
    rule_columns()
        .and_where(Expr::col(PointsRules::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsRules::Code).eq(code))
        .and_where(Expr::col(PointsRules::SupersededAt).is_null())
        .to_owned()
}

pub async fn current_rules(ex: &mut Exec<'_>, community: CommunityId) -> Result<Vec<RuleRow>> {
    let q = rule_columns()
        .and_where(Expr::col(PointsRules::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsRules::SupersededAt).is_null())
        .order_by(PointsRules::Code, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// The current version of one rule.
pub async fn current_rule(
    ex: &mut Exec<'_>,
    community: CommunityId,
    code: &str,
) -> Result<Option<RuleRow>> {
    let q = rule_columns()
        .and_where(Expr::col(PointsRules::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsRules::Code).eq(code))
        .and_where(Expr::col(PointsRules::SupersededAt).is_null())
        .to_owned();
    ex.fetch_optional(&q).await
}

/// Every version of one rule, newest first.
pub async fn rule_versions(
    ex: &mut Exec<'_>,
    community: CommunityId,
    code: &str,
) -> Result<Vec<RuleRow>> {
    let q = rule_columns()
        .and_where(Expr::col(PointsRules::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsRules::Code).eq(code))
        .order_by(PointsRules::Version, Order::Desc)
        .to_owned();
    ex.fetch_all(&q).await
}

/// Writes a rule as a new version and retires the version before it, in one transaction.
/// Awards already made keep naming the version they were made under. The change is
/// audited in the same transaction.
pub async fn put_rule(
    db: &Db,
    community: CommunityId,
    draft: &RuleDraft,
    actor: Option<AccountId>,
    audit: &AuditEvent,
    now: DateTime<Utc>,
) -> Result<RuleRow> {
    let mut tx = db.begin().await?;
    let mut ex = tx.exec();
    let previous = current_rule(&mut ex, community, &draft.code).await?;
    let version = previous.as_ref().map_or(1, |p| p.version + 1);
    if let Some(previous) = &previous {
        let retire = Query::update()
            .table(PointsRules::Table)
            .value(PointsRules::SupersededAt, now)
            .and_where(Expr::col(PointsRules::CommunityId).eq(community.0))
            .and_where(Expr::col(PointsRules::Id).eq(previous.id))
            .to_owned();
        ex.execute(&retire).await?;
    }
    let id = insert_version(&mut ex, community, draft, version, actor, now).await?;
    let q = rule_columns()
        .and_where(Expr::col(PointsRules::CommunityId).eq(community.0))
        .and_where(Expr::col(PointsRules::Id).eq(id))
        .to_owned();
    let row: RuleRow = ex.fetch_one(&q).await?;
    let mut audit = audit.clone();
    audit.detail = serde_json::json!({ "code": row.code, "version": row.version });
    crate::audit::append(&mut ex, &audit, now).await?;
    tx.commit().await?;
    Ok(row)
}

/// Stores one version of a rule and returns its id.
async fn insert_version(
    ex: &mut Exec<'_>,
    community: CommunityId,
    draft: &RuleDraft,
    version: i64,
    actor: Option<AccountId>,
    now: DateTime<Utc>,
) -> Result<Uuid> {
    let id = Uuid::now_v7();
    let insert = Query::insert()
        .into_table(PointsRules::Table)
        .columns([
            PointsRules::CommunityId,
            PointsRules::Id,
            PointsRules::Code,
            PointsRules::Version,
            PointsRules::NameZh,
            PointsRules::NameEn,
            PointsRules::Basis,
            PointsRules::Points,
            PointsRules::RoundingMinutes,
            PointsRules::MinMinutes,
            PointsRules::PerOccasionCap,
            PointsRules::PerDayCap,
            PointsRules::PerMonthCap,
            PointsRules::VerifierRole,
            PointsRules::ApprovalThreshold,
            PointsRules::Active,
            PointsRules::CreatedBy,
            PointsRules::CreatedAt,
        ])
        .values_panic([
            community.0.into(),
            id.into(),
            draft.code.clone().into(),
            version.into(),
            draft.name_zh.trim().to_owned().into(),
            draft.name_en.trim().to_owned().into(),
            draft.basis.as_str().into(),
            draft.points.into(),
            i64::from(draft.rounding_minutes).into(),
            i64::from(draft.min_minutes).into(),
            draft.per_occasion_cap.into(),
            draft.per_day_cap.into(),
            draft.per_month_cap.into(),
            draft.verifier_role.map(|r| r.as_str().to_owned()).into(),
            draft.approval_threshold.into(),
            draft.active.into(),
            actor.map(|a| a.0).into(),
            now.into(),
        ])
        .to_owned();
    ex.execute(&insert).await?;
    Ok(id)
}

/// Gives a new community the seed rules (see [`seed_rules`]), unless it has rules.
pub async fn seed_rules_into(
    ex: &mut Exec<'_>,
    community: CommunityId,
    now: DateTime<Utc>,
) -> Result<usize> {
    if !current_rules(ex, community).await?.is_empty() {
        return Ok(0);
    }
    let seeds = seed_rules();
    for draft in &seeds {
        insert_version(ex, community, draft, 1, None, now).await?;
    }
    Ok(seeds.len())
}

/// The rules a new community starts with (DOMAIN §6 "earning rules seen in practice");
/// every value is the community's to change.
pub fn seed_rules() -> Vec<RuleDraft> {
    let rule = |code: &str, zh: &str, en: &str, basis: Basis, points: i64| RuleDraft {
        code: code.to_owned(),
        name_zh: zh.to_owned(),
        name_en: en.to_owned(),
        basis,
        points,
        rounding_minutes: 30,
        min_minutes: 0,
        per_occasion_cap: None,
        per_day_cap: None,
        per_month_cap: None,
        verifier_role: None,
        approval_threshold: None,
        active: true,
    };
    vec![
        RuleDraft {
            min_minutes: 30,
            per_day_cap: Some(80),
            verifier_role: Some(Role::CommunityStaff),
            ..rule(
                "volunteer_service",
                "志愿服务",
                "Volunteer service",
                Basis::PerHour,
                10,
            )
        },
        RuleDraft {
            per_month_cap: Some(40),
            ..rule(
                "council_meeting",
                "议事会参会",
                "Council meeting attended",
                Basis::PerOccasion,
                5,
            )
        },
        rule(
            "proposal_adopted",
            "提案被采纳",
            "Proposal adopted",
            Basis::PerOccasion,
            20,
        ),
        rule(
            "mediation_help",
            "协助调解",
            "Helped with a mediation",
            Basis::PerOccasion,
            10,
        ),
        RuleDraft {
            per_month_cap: Some(40),
            ..rule(
                "building_head_duty",
                "楼栋长履职",
                "Building-head duty",
                Basis::PerOccasion,
                5,
            )
        },
        RuleDraft {
            per_month_cap: Some(20),
            ..rule(
                "valid_report",
                "有效上报",
                "Valid matter reported",
                Basis::PerOccasion,
                2,
            )
        },
        rule(
            "micro_project",
            "微项目牵头",
            "Led a micro-project",
            Basis::PerOccasion,
            30,
        ),
        RuleDraft {
            approval_threshold: Some(50),
            ..rule(
                "commendation",
                "表彰奖励",
                "Commendation",
                Basis::Manual,
                200,
            )
        },
    ]
}
