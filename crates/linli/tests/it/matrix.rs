//! The authorization matrix: every role × every endpoint × {own, other grid, sibling
//! community, other district} against the real server. The expected table below is the
//! specification, written out by hand; it grows with every module.

use linli_domain::auth::Role;
use reqwest::Method;

use crate::support::{TestApp, TestDb, World, seed_world};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Own,
    OtherGrid,
    SiblingCommunity,
    OtherDistrict,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Me,
    ReadCommunity,
    ListGrids,
    ReadGrid,
    ListAccounts,
    SetRoles,
    Disable,
    ReadAudit,
    ListBuildings,
    ReadBuilding,
    ListHouseholds,
    ReadHousehold,
    ListResidents,
    ReadResident,
    RevealResident,
    CreateResident,
    ListStaff,
    CreateOrganisation,
    ListServicePoints,
    ReadSensitiveTags,
    ExportResidents,
    ReportMatter,
    ListMatters,
    ReadMatter,
    CommentOnMatter,
    MatterCounts,
    ListCategories,
    SetCalendarDay,
    MyNotifications,
    Open311Request,
    GetCalendar,
    SetWorkingHours,
    MyMatters,
    TriageProposal,
    ListWebhooks,
    ListDeliveries,
    ListPhotos,
    ListMediationCases,
    CreateMediationCase,
    ReadPointsAccount,
    AwardPoints,
    ListPointsRules,
    PutPointsRule,
    RecordServiceHours,
    ListServiceRecords,
    ExportServiceRecords,
    IssueServiceCertificate,
    ListPointsApprovals,
    PutPointsSettings,
    Engagement,
    ListRankings,
}

const ENDPOINTS: [Endpoint; 51] = [
    Endpoint::Me,
    Endpoint::ReadCommunity,
    Endpoint::ListGrids,
    Endpoint::ReadGrid,
    Endpoint::ListAccounts,
    Endpoint::SetRoles,
    Endpoint::Disable,
    Endpoint::ReadAudit,
    Endpoint::ListBuildings,
    Endpoint::ReadBuilding,
    Endpoint::ListHouseholds,
    Endpoint::ReadHousehold,
    Endpoint::ListResidents,
    Endpoint::ReadResident,
    Endpoint::RevealResident,
    Endpoint::CreateResident,
    Endpoint::ListStaff,
    Endpoint::CreateOrganisation,
    Endpoint::ListServicePoints,
    Endpoint::ReadSensitiveTags,
    Endpoint::ExportResidents,
    Endpoint::ReportMatter,
    Endpoint::ListMatters,
    Endpoint::ReadMatter,
    Endpoint::CommentOnMatter,
    Endpoint::MatterCounts,
    Endpoint::ListCategories,
    Endpoint::SetCalendarDay,
    Endpoint::MyNotifications,
    Endpoint::Open311Request,
    Endpoint::GetCalendar,
    Endpoint::SetWorkingHours,
    Endpoint::MyMatters,
    Endpoint::TriageProposal,
    Endpoint::ListWebhooks,
    Endpoint::ListDeliveries,
    Endpoint::ListPhotos,
    Endpoint::ListMediationCases,
    Endpoint::CreateMediationCase,
    Endpoint::ReadPointsAccount,
    Endpoint::AwardPoints,
    Endpoint::ListPointsRules,
    Endpoint::PutPointsRule,
    Endpoint::RecordServiceHours,
    Endpoint::ListServiceRecords,
    Endpoint::ExportServiceRecords,
    Endpoint::IssueServiceCertificate,
    Endpoint::ListPointsApprovals,
    Endpoint::PutPointsSettings,
    Endpoint::Engagement,
    Endpoint::ListRankings,
];

const SCOPES: [Scope; 4] = [
    Scope::Own,
    Scope::OtherGrid,
    Scope::SiblingCommunity,
    Scope::OtherDistrict,
];

/// Which roles may use each endpoint inside their own community.
fn allowed_roles(endpoint: Endpoint) -> &'static [Role] {
    use Role::*;
    match endpoint {
        Endpoint::Me | Endpoint::ReadCommunity | Endpoint::ListStaff => &Role::ALL,
        Endpoint::ListCategories
        | Endpoint::MyNotifications
        | Endpoint::GetCalendar
        | Endpoint::MyMatters
        | Endpoint::TriageProposal
        | Endpoint::ListMediationCases
        | Endpoint::ListPointsRules
        | Endpoint::ListRankings => &Role::ALL,
        Endpoint::ReadPointsAccount => &[
            GridWorker,
            CommunityStaff,
            CommunityAdmin,
            DistrictAdmin,
            Auditor,
        ],
        Endpoint::AwardPoints | Endpoint::RecordServiceHours => {
            &[GridWorker, CommunityStaff, CommunityAdmin]
        }
        Endpoint::ListServiceRecords | Endpoint::Engagement => &[
            GridWorker,
            CommunityStaff,
            CommunityAdmin,
            DistrictAdmin,
            Auditor,
        ],
        Endpoint::ExportServiceRecords
        | Endpoint::IssueServiceCertificate
        | Endpoint::ListPointsApprovals => &[CommunityStaff, CommunityAdmin],
        Endpoint::PutPointsRule | Endpoint::PutPointsSettings => &[CommunityAdmin],
        Endpoint::CreateMediationCase => &[CommunityStaff, CommunityAdmin],
        Endpoint::SetWorkingHours | Endpoint::ListWebhooks | Endpoint::ListDeliveries => {
            &[CommunityAdmin, DistrictAdmin]
        }
        Endpoint::ReportMatter => &[
            Resident,
            BuildingHead,
            Volunteer,
            PartyMember,
            GridWorker,
            CommunityStaff,
            OperationOfficer,
            Partner,
            CommunityAdmin,
        ],
        Endpoint::ListMatters
        | Endpoint::ReadMatter
        | Endpoint::MatterCounts
        | Endpoint::Open311Request
        | Endpoint::ListPhotos => &[GridWorker, CommunityStaff, CommunityAdmin, DistrictAdmin],
        Endpoint::CommentOnMatter => &[GridWorker, CommunityStaff, CommunityAdmin],
        Endpoint::SetCalendarDay => &[CommunityAdmin, DistrictAdmin],
        Endpoint::ListServicePoints => &Role::ALL,
        Endpoint::CreateOrganisation => &[CommunityStaff, CommunityAdmin],
        Endpoint::ReadSensitiveTags => &[GridWorker, CommunityStaff, CommunityAdmin],
        Endpoint::ExportResidents => &[CommunityStaff, CommunityAdmin],
        Endpoint::ListGrids | Endpoint::ReadGrid => &[
            GridWorker,
            CommunityStaff,
            CommunityAdmin,
            DistrictAdmin,
            Auditor,
        ],
        Endpoint::ListAccounts => &[CommunityAdmin, DistrictAdmin, Auditor],
        Endpoint::SetRoles | Endpoint::Disable => &[CommunityAdmin, DistrictAdmin],
        Endpoint::ReadAudit => &[Auditor],
        Endpoint::ListBuildings
        | Endpoint::ReadBuilding
        | Endpoint::ListHouseholds
        | Endpoint::ReadHousehold
        | Endpoint::ListResidents
        | Endpoint::ReadResident => &[GridWorker, CommunityStaff, CommunityAdmin, DistrictAdmin],
        Endpoint::RevealResident | Endpoint::CreateResident => {
            &[GridWorker, CommunityStaff, CommunityAdmin]
        }
    }
}

/// Denials of anything addressed by id look like "not found". A collection says
/// "forbidden", but only to someone with a part in that community (every role in its own,
/// the district administrator in the sibling): to anyone else it too is "not found".
fn denial_status(role: Role, endpoint: Endpoint, scope: Scope) -> u16 {
    let collection = matches!(
        endpoint,
        Endpoint::ListGrids
            | Endpoint::ListAccounts
            | Endpoint::ReadAudit
            | Endpoint::ListBuildings
            | Endpoint::ListResidents
            | Endpoint::CreateResident
            | Endpoint::ListStaff
            | Endpoint::CreateOrganisation
            | Endpoint::ExportResidents
            | Endpoint::ReportMatter
            | Endpoint::ListMatters
            | Endpoint::MatterCounts
            | Endpoint::SetCalendarDay
            | Endpoint::SetWorkingHours
            | Endpoint::ListWebhooks
            | Endpoint::ListDeliveries
            | Endpoint::CreateMediationCase
            | Endpoint::PutPointsRule
            | Endpoint::ListServiceRecords
            | Endpoint::ExportServiceRecords
            | Endpoint::ListPointsApprovals
            | Endpoint::PutPointsSettings
            | Endpoint::Engagement
    );
    let member = match scope {
        Scope::Own | Scope::OtherGrid => true,
        Scope::SiblingCommunity => role == Role::DistrictAdmin,
        Scope::OtherDistrict => false,
    };
    if collection && member { 403 } else { 404 }
}

fn success_status(endpoint: Endpoint) -> u16 {
    match endpoint {
        Endpoint::Disable => 204,
        Endpoint::CreateResident
        | Endpoint::CreateOrganisation
        | Endpoint::ReportMatter
        | Endpoint::CreateMediationCase
        | Endpoint::AwardPoints
        | Endpoint::RecordServiceHours
        | Endpoint::IssueServiceCertificate => 201,
        _ => 200,
    }
}

/// The expected status for a role calling an endpoint on a scope.
fn expected(role: Role, endpoint: Endpoint, scope: Scope) -> u16 {
    let ok = success_status(endpoint);
    // Who am I, and the public service-circle directory: answered to anyone, anywhere.
    if matches!(
        endpoint,
        Endpoint::Me
            | Endpoint::ListServicePoints
            | Endpoint::MyNotifications
            | Endpoint::MyMatters
    ) {
        return ok;
    }
    // A district administrator reads the matters of their district but takes no step.
    if endpoint == Endpoint::CommentOnMatter
        && role == Role::DistrictAdmin
        && matches!(
            scope,
            Scope::Own | Scope::OtherGrid | Scope::SiblingCommunity
        )
    {
        return 403;
    }
    let denied = denial_status(role, endpoint, scope);
    if !allowed_roles(endpoint).contains(&role) {
        return denied;
    }
    match scope {
        Scope::Own => ok,
        // Only grid workers are held to their grids; the other grid is grid g2. Lists stay
        // open to them (filtered to their grids); records in g2 are "not found", and so is
        // g2's household when they register someone into it.
        Scope::OtherGrid if role == Role::GridWorker && addressed_in_grid(endpoint) => 404,
        Scope::OtherGrid => ok,
        // The district administrator's district holds the sibling community.
        Scope::SiblingCommunity if role == Role::DistrictAdmin => ok,
        Scope::SiblingCommunity | Scope::OtherDistrict => denied,
    }
}

/// Endpoints aimed at one record that lives in a grid.
fn addressed_in_grid(endpoint: Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::ReadGrid
            | Endpoint::ReadBuilding
            | Endpoint::ListHouseholds
            | Endpoint::ReadHousehold
            | Endpoint::ReadResident
            | Endpoint::RevealResident
            | Endpoint::CreateResident
            | Endpoint::ReadSensitiveTags
            | Endpoint::ReadMatter
            | Endpoint::CommentOnMatter
            | Endpoint::Open311Request
            | Endpoint::ListPhotos
            | Endpoint::ReadPointsAccount
            | Endpoint::AwardPoints
            | Endpoint::RecordServiceHours
            | Endpoint::IssueServiceCertificate
    )
}

fn request(
    world: &World,
    endpoint: Endpoint,
    scope: Scope,
) -> (Method, String, Option<serde_json::Value>) {
    let (place, i, target) = match scope {
        Scope::Own => (world.a, 0, world.targets[0]),
        Scope::OtherGrid => (world.a, 1, world.targets[0]),
        Scope::SiblingCommunity => (world.b, 0, world.targets[1]),
        Scope::OtherDistrict => (world.c, 0, world.targets[2]),
    };
    let (community, grid) = (place.id, place.grids[i]);
    let (building, household, resident, matter) = (
        place.buildings[i],
        place.households[i],
        place.residents[i],
        place.matters[i],
    );
    match endpoint {
        Endpoint::Me => (Method::GET, "/api/v1/me".into(), None),
        Endpoint::ReadCommunity => (
            Method::GET,
            format!("/api/v1/communities/{community}"),
            None,
        ),
        Endpoint::ListGrids => (
            Method::GET,
            format!("/api/v1/communities/{community}/grids"),
            None,
        ),
        Endpoint::ReadGrid => (Method::GET, format!("/api/v1/grids/{grid}"), None),
        Endpoint::ListAccounts => (
            Method::GET,
            format!("/api/v1/communities/{community}/accounts"),
            None,
        ),
        Endpoint::SetRoles => (
            Method::PUT,
            format!("/api/v1/communities/{community}/accounts/{target}/roles"),
            Some(serde_json::json!({ "roles": [{ "role": "resident" }] })),
        ),
        Endpoint::Disable => (
            Method::POST,
            format!("/api/v1/communities/{community}/accounts/{target}/disable"),
            None,
        ),
        Endpoint::ReadAudit => (
            Method::GET,
            format!("/api/v1/communities/{community}/audit"),
            None,
        ),
        Endpoint::ListBuildings => (
            Method::GET,
            format!("/api/v1/communities/{community}/buildings"),
            None,
        ),
        Endpoint::ReadBuilding => (Method::GET, format!("/api/v1/buildings/{building}"), None),
        Endpoint::ListHouseholds => (
            Method::GET,
            format!("/api/v1/buildings/{building}/households"),
            None,
        ),
        Endpoint::ReadHousehold => (Method::GET, format!("/api/v1/households/{household}"), None),
        Endpoint::ListResidents => (
            Method::GET,
            format!("/api/v1/communities/{community}/residents?q=%E5%BC%A0"),
            None,
        ),
        Endpoint::ReadResident => (Method::GET, format!("/api/v1/residents/{resident}"), None),
        Endpoint::RevealResident => (
            Method::POST,
            format!("/api/v1/residents/{resident}/reveal"),
            Some(serde_json::json!({ "fields": ["phone"], "reason": "上门核实联系方式" })),
        ),
        Endpoint::ListStaff => (
            Method::GET,
            format!("/api/v1/communities/{community}/staff"),
            None,
        ),
        Endpoint::CreateOrganisation => (
            Method::POST,
            format!("/api/v1/communities/{community}/organisations"),
            Some(serde_json::json!({ "kind": "merchant", "name": "测试商户" })),
        ),
        Endpoint::ReadSensitiveTags => (
            Method::POST,
            format!("/api/v1/residents/{resident}/sensitive-tags/read"),
            Some(serde_json::json!({ "reason": "走访特殊人群" })),
        ),
        Endpoint::ExportResidents => (
            Method::GET,
            format!("/api/v1/communities/{community}/exports/residents?format=csv"),
            None,
        ),
        Endpoint::ListServicePoints => (
            Method::GET,
            format!("/api/v1/communities/{community}/service-points"),
            None,
        ),
        Endpoint::ReportMatter => (
            Method::POST,
            "/api/v1/matters".into(),
            Some(serde_json::json!({
                "community_id": community,
                "category_id": place.category,
                "description": "楼道里堆满了杂物，影响通行",
                "location": { "kind": "building", "building_id": building },
            })),
        ),
        Endpoint::ListMatters => (
            Method::GET,
            format!("/api/v1/communities/{community}/matters"),
            None,
        ),
        Endpoint::ReadMatter => (Method::GET, format!("/api/v1/matters/{matter}"), None),
        Endpoint::CommentOnMatter => (
            Method::POST,
            format!("/api/v1/matters/{matter}/steps"),
            Some(serde_json::json!({ "step": "comment", "text": "已知悉" })),
        ),
        Endpoint::MatterCounts => (
            Method::GET,
            format!("/api/v1/communities/{community}/matter-counts"),
            None,
        ),
        Endpoint::ListCategories => (
            Method::GET,
            format!("/api/v1/communities/{community}/matter-categories"),
            None,
        ),
        Endpoint::SetCalendarDay => (
            Method::PUT,
            format!("/api/v1/communities/{community}/calendar/2026-10-01"),
            Some(serde_json::json!({ "kind": "holiday", "note": "国庆节" })),
        ),
        Endpoint::MyNotifications => (Method::GET, "/api/v1/me/notifications".into(), None),
        Endpoint::MyMatters => (Method::GET, "/api/v1/me/matters".into(), None),
        Endpoint::ListMediationCases => (
            Method::GET,
            format!("/api/v1/communities/{community}/mediation-cases"),
            None,
        ),
        Endpoint::CreateMediationCase => (
            Method::POST,
            format!("/api/v1/communities/{community}/mediation-cases"),
            Some(serde_json::json!({
                "source": "walk_in",
                "dispute_type": "neighbour",
                "facts": "楼上漏水渗到楼下",
                "parties": [{ "role": "applicant", "name": "甲" }, { "role": "respondent", "name": "乙" }]
            })),
        ),
        Endpoint::ListPhotos => (
            Method::GET,
            format!("/api/v1/matters/{matter}/photos"),
            None,
        ),
        Endpoint::GetCalendar => (
            Method::GET,
            format!("/api/v1/communities/{community}/calendar"),
            None,
        ),
        Endpoint::SetWorkingHours => (
            Method::PUT,
            format!("/api/v1/communities/{community}/calendar"),
            Some(serde_json::json!({
                "working_hours": "09:00-12:00,14:00-18:00",
                "yellow_after_days": 1,
                "red_after_days": 5
            })),
        ),
        Endpoint::TriageProposal => (
            Method::POST,
            format!("/api/v1/communities/{community}/triage-proposals"),
            Some(serde_json::json!({
                "category_id": place.category,
                "answers": { "public_or_shared": true }
            })),
        ),
        Endpoint::ListWebhooks => (
            Method::GET,
            format!("/api/v1/communities/{community}/webhooks"),
            None,
        ),
        Endpoint::ListDeliveries => (
            Method::GET,
            format!("/api/v1/communities/{community}/deliveries"),
            None,
        ),
        // Open311 authenticates by api_key (added by the caller); the seeded matters are
        // numbered `<community code>-<grid index>`.
        Endpoint::Open311Request => {
            let code = match scope {
                Scope::Own | Scope::OtherGrid => "a",
                Scope::SiblingCommunity => "b",
                Scope::OtherDistrict => "c",
            };
            (
                Method::GET,
                format!("/open311/v2/requests/{code}-{i}.json?jurisdiction_id={code}"),
                None,
            )
        }
        Endpoint::ReadPointsAccount => (
            Method::GET,
            format!("/api/v1/points/accounts/{resident}"),
            None,
        ),
        Endpoint::AwardPoints => (
            Method::POST,
            "/api/v1/points/awards".into(),
            Some(serde_json::json!({ "resident_id": resident, "rule": "council_meeting" })),
        ),
        Endpoint::ListPointsRules => (
            Method::GET,
            format!("/api/v1/communities/{community}/points-rules"),
            None,
        ),
        Endpoint::PutPointsRule => (
            Method::PUT,
            format!("/api/v1/communities/{community}/points-rules/council_meeting"),
            Some(serde_json::json!({
                "name_zh": "议事会参会",
                "name_en": "Council meeting attended",
                "basis": "per_occasion",
                "points": 5
            })),
        ),
        Endpoint::RecordServiceHours => (
            Method::POST,
            "/api/v1/service-records".into(),
            Some(serde_json::json!({
                "volunteer_id": resident,
                "activity": "敬老助餐",
                "content": "为长者送餐",
                "organiser": "党群服务中心",
                "started_at": "2026-01-10T01:00:00Z",
                "ended_at": "2026-01-10T03:00:00Z",
                "rule": "volunteer_service"
            })),
        ),
        Endpoint::ListServiceRecords => (
            Method::GET,
            format!("/api/v1/service-records?community_id={community}"),
            None,
        ),
        Endpoint::ExportServiceRecords => (
            Method::GET,
            format!("/api/v1/communities/{community}/exports/service-records?format=csv"),
            None,
        ),
        Endpoint::Engagement => (
            Method::GET,
            format!("/api/v1/communities/{community}/engagement"),
            None,
        ),
        Endpoint::ListRankings => (
            Method::GET,
            format!("/api/v1/points/rankings?community_id={community}"),
            None,
        ),
        Endpoint::PutPointsSettings => (
            Method::PUT,
            format!("/api/v1/communities/{community}/points-settings"),
            Some(serde_json::json!({ "expiry_months": null, "notice_days": 30 })),
        ),
        Endpoint::ListPointsApprovals => (
            Method::GET,
            format!("/api/v1/points/approvals?community_id={community}"),
            None,
        ),
        Endpoint::IssueServiceCertificate => (
            Method::POST,
            "/api/v1/service-certificates".into(),
            Some(serde_json::json!({ "volunteer_id": resident })),
        ),
        Endpoint::CreateResident => (
            Method::POST,
            format!("/api/v1/communities/{community}/residents"),
            Some(serde_json::json!({
                "name": "新住户",
                "household_id": household,
                "relation": "family",
            })),
        ),
    }
}

#[tokio::test]
async fn every_role_every_endpoint_every_scope() {
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for role in Role::ALL {
        let token = app.token(world.username(role)).await;
        for endpoint in ENDPOINTS {
            for scope in SCOPES {
                let (method, mut path, body) = request(&world, endpoint, scope);
                if endpoint == Endpoint::Open311Request {
                    path.push_str(&format!("&api_key={token}"));
                }
                let mut req = app
                    .client
                    .request(method, app.url(&path))
                    .bearer_auth(&token);
                if let Some(body) = body {
                    req = req.json(&body);
                }
                if endpoint == Endpoint::AwardPoints {
                    // Every ledger-changing POST carries its own key.
                    req = req.header("idempotency-key", format!("matrix-{role}-{scope:?}"));
                }
                if endpoint == Endpoint::CommentOnMatter {
                    // Each allowed comment is a step: send the version as it is now.
                    let (place, i) = match scope {
                        Scope::Own => (world.a, 0),
                        Scope::OtherGrid => (world.a, 1),
                        Scope::SiblingCommunity => (world.b, 0),
                        Scope::OtherDistrict => (world.c, 0),
                    };
                    let mut conn = t.db.acquire().await.unwrap();
                    let row = linli_store::matters::find_matter(&mut conn.exec(), place.matters[i])
                        .await
                        .unwrap()
                        .unwrap();
                    req = req.header("if-match", row.version.to_string());
                }
                let response = req.send().await.unwrap();
                let got = response.status().as_u16();
                let want = expected(role, endpoint, scope);
                checked += 1;
                if got != want {
                    let text = response.text().await.unwrap_or_default();
                    failures.push(format!(
                        "{role} {endpoint:?} {scope:?}: want {want}, got {got} {text}"
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test]
async fn denied_ids_look_exactly_like_missing_ones() {
    let t = TestDb::sqlite().await;
    let world = seed_world(&t.db).await;
    let app = TestApp::spawn(&t.db).await;
    let worker = app.token(world.username(Role::GridWorker)).await;
    let missing = app
        .get(&format!("/api/v1/grids/{}", uuid::Uuid::now_v7()), &worker)
        .await;
    let other_grid = app
        .get(&format!("/api/v1/grids/{}", world.a.grids[1]), &worker)
        .await;
    let other_community = app
        .get(&format!("/api/v1/grids/{}", world.c.grids[0]), &worker)
        .await;
    let strip = |mut v: serde_json::Value| {
        v.as_object_mut().unwrap().remove("request_id");
        v
    };
    let (a, b, c) = (
        strip(missing.json().await.unwrap()),
        strip(other_grid.json().await.unwrap()),
        strip(other_community.json().await.unwrap()),
    );
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(a["status"], 404);
    // A grid worker's list holds only their own grid.
    let list: serde_json::Value = app
        .get(
            &format!("/api/v1/communities/{}/grids", world.a.id),
            &worker,
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["total"], 1);
    assert_eq!(
        list["items"][0]["id"],
        serde_json::json!(world.a.grids[0].0)
    );
}
