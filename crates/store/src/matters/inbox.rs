//! The in-app inbox: a notification for each person a step concerns.

use chrono::{DateTime, Utc};
use linli_domain::{AccountId, CommunityId};
use sea_query::{Expr, ExprTrait, Func, Order, Query};
use uuid::Uuid;

use crate::schema::Notifications;
use crate::{Exec, PageOf, PageRequest, Result};

#[derive(Debug, Clone)]
pub struct NewNotification {
    pub account: AccountId,
    pub matter: Option<Uuid>,
    /// Stable kind (`matter_dispatched`, `matter_reminder`, …): pages translate it.
    pub kind: &'static str,
    pub title: String,
    pub body: String,
}

pub async fn notify(
    ex: &mut Exec<'_>,
    community: CommunityId,
    items: &[NewNotification],
    now: DateTime<Utc>,
) -> Result<()> {
    if items.is_empty() {
        return Ok(());
    }
    let mut q = Query::insert()
        .into_table(Notifications::Table)
        .columns([
            Notifications::CommunityId,
            Notifications::Id,
            Notifications::AccountId,
            Notifications::MatterId,
            Notifications::Kind,
            Notifications::Title,
            Notifications::Body,
            Notifications::CreatedAt,
        ])
        .to_owned();
    for n in items {
        q.values_panic([
            community.0.into(),
            Uuid::now_v7().into(),
            n.account.0.into(),
            n.matter.into(),
            n.kind.into(),
            n.title.clone().into(),
            n.body.clone().into(),
            now.into(),
        ]);
    }
    ex.execute(&q).await?;
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct NotificationRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub matter_id: Option<Uuid>,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

/// An account's notifications, newest first.
pub async fn list(
    ex: &mut Exec<'_>,
    account: AccountId,
    unread_only: bool,
    page: PageRequest,
) -> Result<PageOf<NotificationRow>> {
    let mut q = Query::select()
        .columns([
            Notifications::CommunityId,
            Notifications::Id,
            Notifications::MatterId,
            Notifications::Kind,
            Notifications::Title,
            Notifications::Body,
            Notifications::CreatedAt,
            Notifications::ReadAt,
        ])
        .from(Notifications::Table)
        .and_where(Expr::col(Notifications::AccountId).eq(account.0))
        .to_owned();
    if unread_only {
        q.and_where(Expr::col(Notifications::ReadAt).is_null());
    }
    if let Some(after) = page.after {
        q.and_where(Expr::col(Notifications::Id).lt(after));
    }
    q.order_by(Notifications::Id, Order::Desc)
        .limit(page.fetch_limit());
    let rows = ex.fetch_all(&q).await?;
    let unread = unread_count(ex, account).await?;
    Ok(PageOf::from_lookahead(
        rows,
        page,
        unread,
        |r: &NotificationRow| r.id,
    ))
}

pub async fn unread_count(ex: &mut Exec<'_>, account: AccountId) -> Result<u64> {
    let q = Query::select()
        .expr(Func::count(Expr::col(Notifications::Id)))
        .from(Notifications::Table)
        .and_where(Expr::col(Notifications::AccountId).eq(account.0))
        .and_where(Expr::col(Notifications::ReadAt).is_null())
        .to_owned();
    let (n,): (i64,) = ex.fetch_one(&q).await?;
    Ok(n as u64)
}

/// Marks the account's own notification read. `false` if it is not theirs or not found.
pub async fn mark_read(
    ex: &mut Exec<'_>,
    account: AccountId,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<bool> {
    let q = Query::update()
        .table(Notifications::Table)
        .value(Notifications::ReadAt, now)
        .and_where(Expr::col(Notifications::AccountId).eq(account.0))
        .and_where(Expr::col(Notifications::Id).eq(id))
        .and_where(Expr::col(Notifications::ReadAt).is_null())
        .to_owned();
    Ok(ex.execute(&q).await? == 1)
}
