//! The import and export page: download the template, check or import a file (the
//! report lists every problem by row and column, in the reader's language), export.

use askama::Template;
use axum::extract::{Multipart, State};
use axum::response::Response;
use linli_domain::auth::Action;
use linli_domain::registry::sheet::Problem;

use crate::api::imports::{ImportReport, run_import};
use crate::auth::principal::community_target;
use crate::auth::{Deny, Principal};
use crate::error::ApiError;
use crate::i18n::Tr;
use crate::pages::{Chrome, SignedIn, render};
use crate::state::AppState;

pub struct ProblemLine {
    pub row: usize,
    pub column: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "imports.html")]
pub struct ImportsPage {
    pub chrome: Chrome,
    pub community: String,
    pub community_id: String,
    pub can_import: bool,
    pub can_export_full: bool,
    pub report: Option<ImportReport>,
    pub problems: Vec<ProblemLine>,
    pub error: Option<String>,
}

fn problem_line(t: &Tr, p: &Problem) -> ProblemLine {
    ProblemLine {
        row: p.row,
        column: p.column.clone(),
        message: t
            .try_t(&format!("import.problem.{}", p.code))
            .or_else(|| t.try_t(&format!("error.{}", p.code)))
            .map(str::to_owned)
            .unwrap_or_else(|| p.message.clone()),
    }
}

async fn page(
    state: &AppState,
    principal: &Principal,
    report: Option<ImportReport>,
    error: Option<String>,
) -> Result<Response, ApiError> {
    let community = principal.default_community().ok_or(ApiError::NotFound)?;
    let (target, ctx) = community_target(state, community).await?;
    principal
        .authorize(state, Action::ExportRegistry, &target, Deny::AsForbidden)
        .await?;
    let t = Tr::new(principal.locale);
    let can = |action| principal.can(action, &target);
    let problems = report
        .as_ref()
        .map(|r| r.problems.iter().map(|p| problem_line(&t, p)).collect())
        .unwrap_or_default();
    let page = ImportsPage {
        chrome: Chrome::signed_in(
            principal,
            Some(&target),
            Some(ctx.community_name.clone()),
            "/imports",
        ),
        community: ctx.community_name.clone(),
        community_id: ctx.community_id.to_string(),
        can_import: can(Action::ImportRegistry),
        can_export_full: can(Action::ExportRegistryFull),
        report,
        problems,
        error,
    };
    Ok(render(&page))
}

pub async fn show(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
) -> Result<Response, ApiError> {
    page(&state, &principal, None, None).await
}

/// The uploaded form: the file, and whether to only check it or skip invalid rows.
pub async fn submit(
    State(state): State<AppState>,
    SignedIn(principal): SignedIn,
    mut form: Multipart,
) -> Result<Response, ApiError> {
    let community = principal.default_community().ok_or(ApiError::NotFound)?;
    let (mut file, mut dry_run, mut skip_invalid) = (None, false, false);
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|_| ApiError::BadRequest("the upload could not be read".to_owned()))?
    {
        match field.name() {
            Some("file") => {
                file = Some(field.bytes().await.map_err(|_| ApiError::PayloadTooLarge)?)
            }
            Some("mode") => {
                let mode = field.text().await.unwrap_or_default();
                dry_run = mode == "check";
                skip_invalid = mode == "skip_invalid";
            }
            _ => {}
        }
    }
    let t = Tr::new(principal.locale);
    let Some(file) = file.filter(|f| !f.is_empty()) else {
        return page(
            &state,
            &principal,
            None,
            Some(t.t("import.no_file").to_owned()),
        )
        .await;
    };
    match run_import(&state, &principal, community, file, dry_run, skip_invalid).await {
        Ok((report, _)) => page(&state, &principal, Some(report), None).await,
        Err(
            error @ (ApiError::Rule { .. }
            | ApiError::InvalidField { .. }
            | ApiError::Conflict { .. }),
        ) => {
            let problem = error.problem();
            let message = t
                .try_t(&format!("import.problem.{}", problem.code))
                .map(str::to_owned)
                .unwrap_or(problem.title);
            page(&state, &principal, None, Some(message)).await
        }
        Err(other) => Err(other),
    }
}
