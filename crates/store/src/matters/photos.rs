//! Photo records of matters (the files are in the object store).

use chrono::{DateTime, Utc};
use linli_domain::CommunityId;
use sea_query::{Expr, ExprTrait, Func, Order, Query};
use uuid::Uuid;

use crate::schema::MatterPhotos;
use crate::{Exec, Result};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PhotoRow {
    pub community_id: Uuid,
    pub id: Uuid,
    pub matter_id: Uuid,
    pub uploaded_by: Option<Uuid>,
    pub content_type: String,
    pub bytes: i64,
    pub width: i32,
    pub height: i32,
    pub had_location: bool,
    pub original_key: String,
    pub display_key: String,
    pub thumb_key: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: [MatterPhotos; 13] = [
    MatterPhotos::CommunityId,
    MatterPhotos::Id,
    MatterPhotos::MatterId,
    MatterPhotos::UploadedBy,
    MatterPhotos::ContentType,
    MatterPhotos::Bytes,
    MatterPhotos::Width,
    MatterPhotos::Height,
    MatterPhotos::HadLocation,
    MatterPhotos::OriginalKey,
    MatterPhotos::DisplayKey,
    MatterPhotos::ThumbKey,
    MatterPhotos::CreatedAt,
];

pub async fn insert_photo(ex: &mut Exec<'_>, p: &PhotoRow) -> Result<()> {
    let q = Query::insert()
        .into_table(MatterPhotos::Table)
        .columns(COLUMNS)
        .values_panic([
            p.community_id.into(),
            p.id.into(),
            p.matter_id.into(),
            p.uploaded_by.into(),
            p.content_type.clone().into(),
            p.bytes.into(),
            p.width.into(),
            p.height.into(),
            p.had_location.into(),
            p.original_key.clone().into(),
            p.display_key.clone().into(),
            p.thumb_key.clone().into(),
            p.created_at.into(),
        ])
        .to_owned();
    ex.execute(&q).await?;
    Ok(())
}

pub async fn find_photo(ex: &mut Exec<'_>, id: Uuid) -> Result<Option<PhotoRow>> {
    let q = Query::select()
        .columns(COLUMNS)
        .from(MatterPhotos::Table)
        .and_where(Expr::col(MatterPhotos::Id).eq(id))
        .to_owned();
    ex.fetch_optional(&q).await
}

pub async fn photos_of(
    ex: &mut Exec<'_>,
    community: CommunityId,
    matter: Uuid,
) -> Result<Vec<PhotoRow>> {
    let q = Query::select()
        .columns(COLUMNS)
        .from(MatterPhotos::Table)
        .and_where(Expr::col(MatterPhotos::CommunityId).eq(community.0))
        .and_where(Expr::col(MatterPhotos::MatterId).eq(matter))
        .order_by(MatterPhotos::Id, Order::Asc)
        .to_owned();
    ex.fetch_all(&q).await
}

pub async fn count_for(ex: &mut Exec<'_>, community: CommunityId, matter: Uuid) -> Result<i64> {
    let q = Query::select()
        .expr(Func::count(Expr::col(MatterPhotos::Id)))
        .from(MatterPhotos::Table)
        .and_where(Expr::col(MatterPhotos::CommunityId).eq(community.0))
        .and_where(Expr::col(MatterPhotos::MatterId).eq(matter))
        .to_owned();
    let (n,): (i64,) = ex.fetch_one(&q).await?;
    Ok(n)
}
