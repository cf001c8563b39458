//! Points on both engines: awards, replays and reversals over HTTP; a random run of ledger
//! operations checked against an in-memory model after every step; concurrent retries and
//! concurrent awards against a cap; `linli check` finding tampering; rule versions.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use linli_domain::auth::Role;
use linli_domain::points::{IdempotencyKey, PointsRuleError, TransferKind};
use linli_domain::{AccountId, CommunityId, ResidentId};
use linli_store::points::{self as ledger, Award, Change, LedgerRequest, Refusal, Reversal};
use linli_store::{Db, audit, check};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{
    TestApp, TestDb, World, add_account, add_resident, grant, problem, seed_world,
    signed_in_resident,
};

async fn ledger_is_sound(db: &Db) -> check::CheckReport {
    let report = check::run(db).await.unwrap();
    assert!(
        report.is_ok(),
        "linli check: {:?} {:?}",
        report.database_problems,
        report.ledger.problems
    );
    report
}

#[tokio::test]
async fn awards_replays_and_reversals_over_http() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let resident = signed_in_resident(&t.db, &world, "pt-resident", 2).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let me = app.token("pt-resident").await;
        let meeting =
            json!({ "resident_id": resident, "rule": "council_meeting", "memo": "11月议事会" });

        let first = app
            .post_keyed("/api/v1/points/awards", &staff, "award-0001", &meeting)
            .await;
        assert_eq!(first.status(), 201, "{}", t.engine);
        assert!(first.headers().get("idempotent-replayed").is_none());
        let first_body = first.text().await.unwrap();
        let receipt: Value = serde_json::from_str(&first_body).unwrap();
        assert_eq!(receipt["kind"], "award");
        assert_eq!(receipt["amount"], 5);
        assert_eq!(receipt["balance"], 5);
        assert_eq!(receipt["rule_code"], "council_meeting");
        assert_eq!(receipt["rule_version"], 1);

        // A retry gets the same answer, byte for byte, and changes nothing.
        let again = app
            .post_keyed("/api/v1/points/awards", &staff, "award-0001", &meeting)
            .await;
        assert_eq!(again.status(), 201);
        assert_eq!(again.headers()["idempotent-replayed"], "true");
        assert_eq!(again.text().await.unwrap(), first_body);
        // The same key for something else is refused.
        let other = json!({ "resident_id": resident, "rule": "council_meeting", "memo": "另一次" });
        let (status, p) = problem(
            app.post_keyed("/api/v1/points/awards", &staff, "award-0001", &other)
                .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str().unwrap()),
            (409, "idempotency_key_reused")
        );
        // Without a key, or with a malformed one, nothing is tried.
        let (status, p) = problem(
            app.post_json("/api/v1/points/awards", &staff, &meeting)
                .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str().unwrap()),
            (422, "idempotency_key_required")
        );
        let (status, p) = problem(
            app.post_keyed("/api/v1/points/awards", &staff, "short", &meeting)
                .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str().unwrap()),
            (422, "idempotency_key_invalid")
        );

        // Hours count in whole half-hours: 95 minutes at 10 an hour earn 15.
        let service =
            json!({ "resident_id": resident, "rule": "volunteer_service", "minutes": 95 });
        let r = app
            .post_keyed("/api/v1/points/awards", &staff, "award-0002", &service)
            .await;
        assert_eq!(r.status(), 201);
        let served: Value = r.json().await.unwrap();
        assert_eq!(
            (served["amount"].as_i64(), served["balance"].as_i64()),
            (Some(15), Some(20))
        );
        for (body, code) in [
            (
                json!({ "resident_id": resident, "rule": "volunteer_service" }),
                "minutes_required",
            ),
            (
                json!({ "resident_id": resident, "rule": "volunteer_service", "minutes": 20 }),
                "service_too_short",
            ),
            (
                json!({ "resident_id": resident, "rule": "council_meeting", "points": 50 }),
                "points_not_expected",
            ),
            (
                json!({ "resident_id": resident, "rule": "no_such_rule" }),
                "unknown_rule",
            ),
            (
                json!({ "resident_id": resident, "rule": "council_meeting", "bonus": 1 }),
                "unknown_field",
            ),
        ] {
            let (status, p) = problem(
                app.post_keyed("/api/v1/points/awards", &staff, "award-bad-1", &body)
                    .await,
            )
            .await;
            assert_eq!((status, p["code"].as_str().unwrap()), (422, code), "{body}");
        }
        // The resident sees their own account, newest first; not anyone else's.
        let mine = app.get_json("/api/v1/me/points", &me).await;
        assert_eq!(mine["balance"], 20);
        assert_eq!(mine["entries"][0]["amount"], 15);
        assert_eq!(mine["entries"][1]["amount"], 5);
        assert_eq!(mine["entries"][1]["memo"], "11月议事会");
        let same = app
            .get_json(&format!("/api/v1/points/accounts/{resident}"), &me)
            .await;
        assert_eq!(same["balance"], 20);
        let neighbour = world.a.residents[0];
        assert_eq!(
            app.get(&format!("/api/v1/points/accounts/{neighbour}"), &me)
                .await
                .status(),
            404
        );
        let page = app
            .get_json(
                &format!("/api/v1/points/accounts/{resident}?limit=1"),
                &staff,
            )
            .await;
        assert_eq!(page["entries"].as_array().unwrap().len(), 1);
        let older = app
            .get_json(
                &format!(
                    "/api/v1/points/accounts/{resident}?limit=1&before={}",
                    page["next"].as_str().unwrap()
                ),
                &staff,
            )
            .await;
        assert_eq!(older["entries"][0]["amount"], 5);
        assert_eq!(older["next"], Value::Null);

        // A correction reverses the service award, linked to it and audited.
        let award_id = served["transfer_id"].as_str().unwrap();
        let undo = json!({ "transfer_id": award_id, "reason": "时长登记错误" });
        let r = app
            .post_keyed("/api/v1/points/reversals", &staff, "reverse-0001", &undo)
            .await;
        assert_eq!(r.status(), 201);
        let reversal: Value = r.json().await.unwrap();
        assert_eq!(reversal["kind"], "reversal");
        assert_eq!(reversal["reverses_id"], award_id);
        assert_eq!(reversal["balance"], 5);
        let (status, p) = problem(
            app.post_keyed("/api/v1/points/reversals", &staff, "reverse-0002", &undo)
                .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str().unwrap()),
            (409, "already_reversed")
        );
        let undo_undo = json!({ "transfer_id": reversal["transfer_id"], "reason": "撤销更正" });
        let (status, p) = problem(
            app.post_keyed(
                "/api/v1/points/reversals",
                &staff,
                "reverse-0003",
                &undo_undo,
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str().unwrap()),
            (409, "not_reversible")
        );
        let (status, p) = problem(
            app.post_keyed(
                "/api/v1/points/reversals",
                &staff,
                "reverse-0004",
                &json!({ "transfer_id": award_id, "reason": "x" }),
            )
            .await,
        )
        .await;
        assert_eq!((status, p["code"].as_str().unwrap()), (422, "memo_length"));
        let unknown = json!({ "transfer_id": Uuid::now_v7(), "reason": "不存在的转账" });
        assert_eq!(
            app.post_keyed("/api/v1/points/reversals", &staff, "reverse-0005", &unknown)
                .await
                .status(),
            404
        );
        // Staff of another community cannot see the transfer at all.
        let outsider = add_account(&t.db, "pt-outsider", Some(world.b.id)).await;
        grant(&t.db, world.b.id, outsider, Role::CommunityStaff, &[]).await;
        let outsider = app.token("pt-outsider").await;
        let (status, _) = problem(
            app.post_keyed(
                "/api/v1/points/reversals",
                &outsider,
                "reverse-0006",
                &undo_undo,
            )
            .await,
        )
        .await;
        assert_eq!(status, 404);
        // Corrections are for community staff: a grid worker or the resident is answered
        // as if the transfer did not exist.
        for token in [
            app.token(world.username(Role::GridWorker)).await,
            me.clone(),
        ] {
            let (status, _) = problem(
                app.post_keyed(
                    "/api/v1/points/reversals",
                    &token,
                    "reverse-0007",
                    &undo_undo,
                )
                .await,
            )
            .await;
            assert_eq!(status, 404);
        }
        // Nor can a resident award themselves points.
        let (status, _) = problem(
            app.post_keyed("/api/v1/points/awards", &me, "self-award-1", &meeting)
                .await,
        )
        .await;
        assert_eq!(status, 404);

        let entries = {
            let mut conn = t.db.acquire().await.unwrap();
            audit::recent(&mut conn.exec(), world.a.id.0, 20)
                .await
                .unwrap()
        };
        assert!(
            entries
                .iter()
                .any(|e| e.action == "points.reverse" && e.object_id.as_deref() == Some(award_id))
        );
        let report = ledger_is_sound(&t.db).await;
        assert_eq!(report.ledger.transfers_checked, 3, "{}", t.engine);
    }
}

#[tokio::test]
async fn rules_change_by_version_and_awards_name_the_version_they_used() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let resident = signed_in_resident(&t.db, &world, "pt-rules", 3).await;
        let admin = app.token(world.username(Role::CommunityAdmin)).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let rules_path = format!("/api/v1/communities/{}/points-rules", world.a.id);
        let rules = app.get_json(&rules_path, &staff).await;
        assert!(
            rules
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["code"] == "volunteer_service" && r["version"] == 1)
        );

        let changed = json!({ "name_zh": "议事会参会", "name_en": "Council meeting attended", "basis": "per_occasion", "points": 8 });
        let r = app
            .client
            .put(app.url(&format!("{rules_path}/council_meeting")))
            .bearer_auth(&admin)
            .json(&changed)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v2: Value = r.json().await.unwrap();
        assert_eq!(
            (v2["version"].as_i64(), v2["points"].as_i64()),
            (Some(2), Some(8))
        );
        // Staff may not change rules; nonsense rules are refused.
        let r = app
            .client
            .put(app.url(&format!("{rules_path}/council_meeting")))
            .bearer_auth(&staff)
            .json(&changed)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let bad = json!({ "name_zh": "坏", "name_en": "Bad", "basis": "per_occasion", "points": 5, "per_day_cap": 50, "per_month_cap": 10 });
        let (status, p) = problem(
            app.client
                .put(app.url(&format!("{rules_path}/bad_rule")))
                .bearer_auth(&admin)
                .json(&bad)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!((status, p["code"].as_str().unwrap()), (422, "rule_shape"));

        let r = app
            .post_keyed(
                "/api/v1/points/awards",
                &staff,
                "rule-award-1",
                &json!({ "resident_id": resident, "rule": "council_meeting" }),
            )
            .await;
        let receipt: Value = r.json().await.unwrap();
        assert_eq!(
            (receipt["amount"].as_i64(), receipt["rule_version"].as_i64()),
            (Some(8), Some(2))
        );

        // An award prepared under a version that is replaced before it runs is refused.
        let community = world.a.id;
        let old = current_rule(&t.db, community, "proposal_adopted").await;
        let mut draft = old.rule().unwrap().draft;
        draft.points = 25;
        let event = audit::AuditEvent {
            community: Some(community),
            actor: None,
            actor_ip: None,
            request_id: None,
            action: "points.rule.put".into(),
            object_type: "points_rule".into(),
            object_id: None,
            outcome: "success".into(),
            detail: json!({}),
        };
        ledger::put_rule(&t.db, community, &draft, None, &event, Utc::now())
            .await
            .unwrap();
        let staff_id = world.account_id(Role::CommunityStaff);
        let outcome = ledger::submit(
            &t.db,
            award_request(community, staff_id, "stale-rule-1", resident, &old, 20),
            Utc::now(),
        )
        .await
        .unwrap();
        assert_eq!(outcome, Err(Refusal::RuleChanged), "{}", t.engine);
        ledger_is_sound(&t.db).await;
    }
}

pub(crate) fn award_request(
    community: CommunityId,
    actor: AccountId,
    key: &str,
    resident: ResidentId,
    rule: &ledger::RuleRow,
    earned: i64,
) -> LedgerRequest {
    let start = Utc::now() - Duration::hours(1);
    LedgerRequest {
        community,
        actor: Some(actor),
        key: Some(IdempotencyKey::parse(key).unwrap()),
        request: json!({ "op": "award", "resident": resident, "rule": rule.code, "earned": earned }),
        change: Change::Award(Box::new(Award {
            resident,
            rule_id: rule.id,
            rule: rule.rule().unwrap(),
            earned,
            subject: None,
            memo: String::new(),
            day_start: start,
            month_start: start,
            approver: None,
        })),
        audit: None,
    }
}

fn reversal_request(
    community: CommunityId,
    actor: AccountId,
    key: &str,
    transfer: Uuid,
) -> LedgerRequest {
    LedgerRequest {
        community,
        actor: Some(actor),
        key: Some(IdempotencyKey::parse(key).unwrap()),
        request: json!({ "op": "reversal", "transfer": transfer }),
        change: Change::Reversal(Reversal {
            transfer,
            memo: "更正".into(),
        }),
        audit: None,
    }
}

/// A tiny deterministic generator (xorshift64*), so a failing run can be replayed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n
    }
}

/// What the model remembers of each transfer it expects the ledger to hold.
#[derive(Debug, Clone)]
struct ModelTransfer {
    id: Uuid,
    kind: TransferKind,
    resident: ResidentId,
    rule: Option<String>,
    amount: i64,
    reversed: bool,
}

/// The model of the ledger: balances, transfers, the offer's stock and the redemptions.
#[derive(Debug, Default)]
struct Model {
    balances: HashMap<ResidentId, i64>,
    transfers: Vec<ModelTransfer>,
    stock: i64,
    /// (redemption, resident, status)
    redemptions: Vec<(Uuid, ResidentId, &'static str)>,
}

const OFFER_COST: i64 = 7;

/// A redemption's code hash in this test: any fixed function of its id will do.
fn test_code_hash(redemption: Uuid) -> Vec<u8> {
    redemption.as_bytes().to_vec()
}

impl Model {
    fn balance(&self, resident: ResidentId) -> i64 {
        self.balances.get(&resident).copied().unwrap_or(0)
    }

    /// What the ledger must answer to `change`, given the model.
    fn expect(&self, change: &Change) -> Result<(), Refusal> {
        match change {
            Change::Expire(_) => unreachable!("the random run does not expire points"),
            Change::Award(award) => {
                let used: i64 = self
                    .transfers
                    .iter()
                    .filter(|m| {
                        m.kind == TransferKind::Award
                            && !m.reversed
                            && m.resident == award.resident
                            && m.rule.as_deref() == Some(award.rule.draft.code.as_str())
                    })
                    .map(|m| m.amount)
                    .sum();
                let allowed = match award.rule.draft.per_month_cap {
                    Some(cap) => award.earned.min(cap - used),
                    None => award.earned,
                };
                if allowed <= 0 {
                    Err(Refusal::Rule(PointsRuleError::CapReached))
                } else {
                    Ok(())
                }
            }
            Change::Reversal(r) => {
                let target = self.transfers.iter().find(|m| m.id == r.transfer).unwrap();
                if !target.kind.is_reversible() {
                    Err(Refusal::NotReversible(target.kind))
                } else if target.reversed {
                    Err(Refusal::AlreadyReversed)
                } else if self.balance(target.resident) < target.amount {
                    Err(Refusal::InsufficientPoints {
                        balance: self.balance(target.resident),
                    })
                } else {
                    Ok(())
                }
            }
            Change::Redeem(r) => {
                if self.stock < 1 {
                    Err(Refusal::SoldOut)
                } else if self.balance(r.resident) < OFFER_COST {
                    Err(Refusal::InsufficientPoints {
                        balance: self.balance(r.resident),
                    })
                } else {
                    Ok(())
                }
            }
            Change::Confirm(c) => {
                let (_, _, status) = self
                    .redemptions
                    .iter()
                    .find(|x| x.0 == c.redemption)
                    .unwrap();
                if c.code_hash != test_code_hash(c.redemption) {
                    Err(Refusal::WrongCode)
                } else if *status != "pending" {
                    Err(Refusal::NotPending((*status).to_owned()))
                } else {
                    Ok(())
                }
            }
            Change::Refund(r) => {
                let (_, _, status) = self
                    .redemptions
                    .iter()
                    .find(|x| x.0 == r.redemption)
                    .unwrap();
                if *status != "pending" {
                    Err(Refusal::NotPending((*status).to_owned()))
                } else {
                    Ok(())
                }
            }
        }
    }

    fn apply(&mut self, receipt: &ledger::Receipt, change: &Change) {
        let resident = ResidentId(receipt.resident_id.expect("a resident's points moved"));
        let record = |model: &mut Model, kind: TransferKind, rule: Option<String>| {
            model.transfers.push(ModelTransfer {
                id: receipt.transfer_id,
                kind,
                resident,
                rule,
                amount: receipt.amount,
                reversed: false,
            });
        };
        match change {
            Change::Expire(_) => unreachable!("the random run does not expire points"),
            Change::Award(award) => {
                *self.balances.entry(resident).or_default() += receipt.amount;
                record(
                    self,
                    TransferKind::Award,
                    Some(award.rule.draft.code.clone()),
                );
            }
            Change::Reversal(reversal) => {
                *self.balances.entry(resident).or_default() -= receipt.amount;
                let original = self
                    .transfers
                    .iter_mut()
                    .find(|m| m.id == reversal.transfer)
                    .unwrap();
                original.reversed = true;
                record(self, TransferKind::Reversal, None);
            }
            Change::Redeem(r) => {
                assert_eq!(receipt.amount, OFFER_COST);
                *self.balances.entry(resident).or_default() -= OFFER_COST;
                self.stock -= 1;
                self.redemptions.push((r.redemption, resident, "pending"));
                record(self, TransferKind::Redeem, None);
            }
            Change::Confirm(c) => {
                self.redemptions
                    .iter_mut()
                    .find(|x| x.0 == c.redemption)
                    .unwrap()
                    .2 = "confirmed";
                record(self, TransferKind::Settle, None);
            }
            Change::Refund(r) => {
                *self.balances.entry(resident).or_default() += OFFER_COST;
                self.stock += 1;
                self.redemptions
                    .iter_mut()
                    .find(|x| x.0 == r.redemption)
                    .unwrap()
                    .2 = "cancelled";
                record(self, TransferKind::Refund, None);
            }
        }
        assert_eq!(
            Some(self.balance(resident)),
            receipt.balance,
            "the receipt's balance"
        );
    }
}

/// A partner of community `a` and an offer of theirs, made through the store.
async fn store_offer(db: &Db, world: &World, cost: i64, stock: i64) -> Uuid {
    let now = Utc::now();
    let org = linli_domain::OrganisationId::new();
    let offer = Uuid::now_v7();
    let mut tx = db.begin().await.unwrap();
    let mut ex = tx.exec();
    linli_store::registry::organisations::insert_organisation(
        &mut ex,
        world.a.id,
        &linli_store::registry::organisations::NewOrganisation {
            id: org,
            kind: "merchant",
            name: "社区小超市".into(),
            uscc: None,
            contact_name: None,
            contact_phone: None,
            address: None,
        },
        now,
    )
    .await
    .unwrap();
    linli_store::points::catalogue::insert_offer(
        &mut ex,
        world.a.id,
        &linli_store::points::catalogue::NewOffer {
            id: offer,
            provider_kind: "partner",
            provider_id: org.0,
            title: "鸡蛋一盒".into(),
            description: String::new(),
            kind: "goods",
            cost,
            stock,
            valid_from: now - Duration::hours(1),
            valid_until: now + Duration::days(30),
            active: true,
        },
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    offer
}

/// A redemption of `offer` for `resident`, valid for a week, under its own key.
fn redeem_request(
    community: CommunityId,
    actor: AccountId,
    key: &str,
    resident: ResidentId,
    offer: Uuid,
) -> LedgerRequest {
    let redemption = Uuid::now_v7();
    keyed(
        community,
        actor,
        key,
        json!({ "op": "redeem", "resident": resident, "redemption": redemption }),
        Change::Redeem(ledger::Redeem {
            resident,
            redemption,
            offer,
            code_hash: test_code_hash(redemption),
            valid_for: Duration::days(7),
        }),
    )
}

/// The community's rule in force under `code`.
pub(crate) async fn current_rule(db: &Db, community: CommunityId, code: &str) -> ledger::RuleRow {
    let mut conn = db.acquire().await.unwrap();
    ledger::current_rule(&mut conn.exec(), community, code)
        .await
        .unwrap()
        .unwrap()
}

fn keyed(
    community: CommunityId,
    actor: AccountId,
    key: &str,
    request: Value,
    change: Change,
) -> LedgerRequest {
    LedgerRequest {
        community,
        actor: Some(actor),
        key: Some(IdempotencyKey::parse(key).unwrap()),
        request,
        change,
        audit: None,
    }
}

#[tokio::test]
async fn random_ledger_operations_keep_every_invariant() {
    const STEPS: usize = 300;
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let community = world.a.id;
        let residents = [world.a.residents[0], world.a.residents[1]];
        let actors = [
            world.account_id(Role::CommunityStaff),
            world.account_id(Role::CommunityAdmin),
        ];
        let mut rules: HashMap<&str, ledger::RuleRow> = HashMap::new();
        for code in ["council_meeting", "proposal_adopted", "commendation"] {
            rules.insert(code, current_rule(&t.db, community, code).await);
        }
        let offer = store_offer(&t.db, &world, OFFER_COST, 6).await;
        let mut model = Model {
            stock: 6,
            ..Model::default()
        };
        let mut rng = Rng(0x5EED ^ t.engine.len() as u64);
        // Every request sent with a key, and the answer it got.
        let mut sent: Vec<(LedgerRequest, Result<ledger::Receipt, Refusal>)> = Vec::new();

        for step in 0..STEPS {
            let actor = actors[rng.below(2)];
            let key = format!("op-{step:05}-{}", rng.below(1_000_000));
            let resident = residents[rng.below(2)];
            let choice = rng.below(16);
            let request = if choice < 6 {
                let code = ["council_meeting", "proposal_adopted", "commendation"][rng.below(3)];
                let rule = &rules[code];
                let earned = if code == "commendation" {
                    1 + rng.below(50) as i64
                } else {
                    rule.points
                };
                award_request(community, actor, &key, resident, rule, earned)
            } else if choice < 8 && !model.transfers.is_empty() {
                let target = model.transfers[rng.below(model.transfers.len())].id;
                reversal_request(community, actor, &key, target)
            } else if choice < 11 {
                redeem_request(community, actor, &key, resident, offer)
            } else if choice < 14 && !model.redemptions.is_empty() {
                let (redemption, _, _) = model.redemptions[rng.below(model.redemptions.len())];
                let code_hash = if rng.below(8) == 0 {
                    vec![0; 16]
                } else {
                    test_code_hash(redemption)
                };
                let change = if choice < 13 {
                    Change::Confirm(ledger::Confirm {
                        redemption,
                        code_hash,
                    })
                } else {
                    Change::Refund(ledger::Refund {
                        redemption,
                        why: ledger::RefundReason::Cancelled,
                    })
                };
                keyed(
                    community,
                    actor,
                    &key,
                    json!({ "op": choice, "redemption": redemption }),
                    change,
                )
            } else if !sent.is_empty() {
                // A retry of an earlier request, or its key reused for another one.
                let (earlier, answer) = sent[rng.below(sent.len())].clone();
                if rng.below(2) == 0 {
                    let outcome = ledger::submit(&t.db, earlier.clone(), Utc::now())
                        .await
                        .unwrap();
                    match (&answer, outcome) {
                        (Ok(receipt), Ok(again)) => {
                            assert!(again.replayed);
                            assert_eq!(
                                &again.receipt, receipt,
                                "a replay answers as the first time"
                            );
                        }
                        // A refused request stored nothing, so running it again decides
                        // afresh: it may pass now that points, caps or stock moved (and
                        // from then on its key replays that success).
                        (Err(_), Ok(made)) if made.replayed => {
                            assert!(
                                model
                                    .transfers
                                    .iter()
                                    .any(|m| m.id == made.receipt.transfer_id)
                            );
                        }
                        (Err(_), Ok(made)) => model.apply(&made.receipt, &earlier.change),
                        (Ok(_), Err(refusal)) => {
                            panic!("a stored answer was not replayed: {refusal:?}")
                        }
                        (Err(_), Err(_)) => {}
                    }
                } else if answer.is_ok() {
                    let mut reused = earlier.clone();
                    reused.request = json!({ "something": "else", "step": step });
                    let outcome = ledger::submit(&t.db, reused, Utc::now()).await.unwrap();
                    assert_eq!(outcome, Err(Refusal::KeyReused));
                }
                check_against_model(&t.db, &world, offer, &model).await;
                continue;
            } else {
                continue;
            };
            let expected = model.expect(&request.change);
            let outcome = ledger::submit(&t.db, request.clone(), Utc::now())
                .await
                .unwrap();
            match (expected, outcome) {
                (Ok(()), Ok(made)) => {
                    assert!(!made.replayed);
                    model.apply(&made.receipt, &request.change);
                    sent.push((request, Ok(made.receipt)));
                }
                (Err(refusal), Err(got)) => {
                    assert_eq!(got, refusal, "step {step} on {}", t.engine);
                    sent.push((request, Err(got)));
                }
                (expected, got) => panic!(
                    "step {step} on {}: expected {expected:?}, got {got:?}",
                    t.engine
                ),
            }
            check_against_model(&t.db, &world, offer, &model).await;
        }
        let kinds = |k: TransferKind| model.transfers.iter().filter(|m| m.kind == k).count();
        for kind in [
            TransferKind::Award,
            TransferKind::Reversal,
            TransferKind::Redeem,
            TransferKind::Settle,
            TransferKind::Refund,
        ] {
            assert!(kinds(kind) > 0, "the run made no {kind:?} on {}", t.engine);
        }
    }
}

/// The ledger's own invariants (`linli check`: chain, two legs a transfer, entries summing
/// to zero, balances equal to their entries, none below zero) and the model's balances,
/// stock and escrow.
async fn check_against_model(db: &Db, world: &World, offer: Uuid, model: &Model) {
    let community = world.a.id;
    let report = ledger_is_sound(db).await;
    assert_eq!(
        report.ledger.transfers_checked,
        model.transfers.len() as u64
    );
    let mut conn = db.acquire().await.unwrap();
    for (resident, balance) in &model.balances {
        let history = linli_store::points::accounts::history(
            &mut conn.exec(),
            community,
            resident.0,
            None,
            1,
        )
        .await
        .unwrap();
        assert_eq!(history.balance, *balance);
        assert!(*balance >= 0);
    }
    let pending = model
        .redemptions
        .iter()
        .filter(|r| r.2 == "pending")
        .count() as i64;
    let escrow = linli_store::points::accounts::history(
        &mut conn.exec(),
        community,
        ledger::escrow_account(community),
        None,
        1,
    )
    .await
    .unwrap();
    assert_eq!(
        escrow.balance,
        pending * OFFER_COST,
        "escrow holds what is pending"
    );
    let row = linli_store::points::catalogue::find_offer(&mut conn.exec(), community, offer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.stock, model.stock);
}

#[tokio::test]
async fn fifty_simultaneous_retries_of_one_award_make_one_transfer() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let resident = signed_in_resident(&t.db, &world, "pt-retry", 4).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let body = json!({ "resident_id": resident, "rule": "proposal_adopted" });
        let tries = (0..50).map(|_| {
            let (app, staff, body) = (&app, &staff, &body);
            async move {
                let r = app
                    .post_keyed("/api/v1/points/awards", staff, "retry-same-key", body)
                    .await;
                (r.status().as_u16(), r.text().await.unwrap())
            }
        });
        let answers = futures::future::join_all(tries).await;
        let first = &answers[0];
        assert_eq!(first.0, 201, "{}: {}", t.engine, first.1);
        assert!(
            answers.iter().all(|a| a == first),
            "every retry gets the same answer"
        );
        let mine = app
            .get_json(&format!("/api/v1/points/accounts/{resident}"), &staff)
            .await;
        assert_eq!(mine["balance"], 20, "one effect on {}", t.engine);
        assert_eq!(mine["entries"].as_array().unwrap().len(), 1);
        ledger_is_sound(&t.db).await;
    }
}

#[tokio::test]
async fn simultaneous_awards_stop_exactly_at_the_daily_cap() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let resident = signed_in_resident(&t.db, &world, "pt-cap", 5).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        // volunteer_service: 10 points an hour, at most 80 a day.
        let body = json!({ "resident_id": resident, "rule": "volunteer_service", "minutes": 60 });
        let tries = (0..20).map(|i| {
            let (app, staff, body) = (&app, &staff, &body);
            async move {
                let r = app
                    .post_keyed(
                        "/api/v1/points/awards",
                        staff,
                        &format!("cap-try-{i:03}"),
                        body,
                    )
                    .await;
                let status = r.status().as_u16();
                let value: Value = r.json().await.unwrap();
                (status, value)
            }
        });
        let answers = futures::future::join_all(tries).await;
        let made = answers.iter().filter(|(s, _)| *s == 201).count();
        let capped = answers
            .iter()
            .filter(|(s, v)| *s == 409 && v["code"] == "points_cap_reached")
            .count();
        assert_eq!((made, capped), (8, 12), "{}: {answers:?}", t.engine);
        let mine = app
            .get_json(&format!("/api/v1/points/accounts/{resident}"), &staff)
            .await;
        assert_eq!(mine["balance"], 80);
        ledger_is_sound(&t.db).await;
    }
}

/// A day's cap counts that day's awards and no others: not last night's, which the read
/// passes over on its way (it starts a margin before the day), nor older ones; and it
/// counts every award of the day, however many transfers of others came between.
#[tokio::test]
async fn a_daily_cap_counts_the_awards_of_its_own_day_only() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let community = world.a.id;
        let staff = world.account_id(Role::CommunityStaff);
        // volunteer_service: at most 80 points a day.
        let rule = current_rule(&t.db, community, "volunteer_service").await;
        let [resident, other] = [world.a.residents[0], world.a.residents[1]];
        let day_start = Utc::now() - Duration::hours(2);
        let mut made = Vec::new();
        for (key, who, minutes_into_day, earned) in [
            ("day-cap-1", resident, -3 * 24 * 60, 70),
            ("day-cap-2", resident, -10, 70),
            ("day-cap-3", resident, 5, 50),
            ("day-cap-4", other, 6, 50),
            ("day-cap-5", resident, 10, 50),
            ("day-cap-6", resident, 15, 50),
        ] {
            let request = award_request(community, staff, key, who, &rule, earned);
            made.push(award_in_day(&t.db, request, day_start, minutes_into_day).await);
        }
        assert_eq!(
            made,
            vec![
                Ok(70),
                Ok(70),
                Ok(50),
                Ok(50),
                Ok(30),
                Err(Refusal::Rule(PointsRuleError::CapReached)),
            ],
            "{}",
            t.engine
        );
        ledger_is_sound(&t.db).await;
    }
}

/// Two requests can take their time in one order and reach the ledger in the other. An
/// award of the day that went into the chain just before one of last night's still counts
/// against the day's cap, even on a ledger with nothing older to start the read from.
#[tokio::test]
async fn a_daily_cap_counts_an_award_sequenced_before_a_later_timed_one() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let community = world.a.id;
        let staff = world.account_id(Role::CommunityStaff);
        // volunteer_service: at most 80 points a day.
        let rule = current_rule(&t.db, community, "volunteer_service").await;
        let [resident, other] = [world.a.residents[0], world.a.residents[1]];
        let day_start = Utc::now() - Duration::hours(2);
        let mut made = Vec::new();
        for (key, who, minutes_into_day, earned) in [
            ("cap-skew-1", resident, 1, 50),
            ("cap-skew-2", other, -1, 70),
            ("cap-skew-3", resident, 2, 50),
        ] {
            let request = award_request(community, staff, key, who, &rule, earned);
            made.push(award_in_day(&t.db, request, day_start, minutes_into_day).await);
        }
        assert_eq!(made, vec![Ok(50), Ok(70), Ok(30)], "{}", t.engine);
        ledger_is_sound(&t.db).await;
    }
}

/// Submits an award as made `minutes_into_day` after `day_start`, and answers with the
/// points it earned. A negative offset is the day before, whose own day (and month, for
/// these tests) started an hour before the award.
async fn award_in_day(
    db: &Db,
    mut request: LedgerRequest,
    day_start: DateTime<Utc>,
    minutes_into_day: i64,
) -> Result<i64, Refusal> {
    let at = day_start + Duration::minutes(minutes_into_day);
    if let Change::Award(award) = &mut request.change {
        award.day_start = if at < day_start {
            at - Duration::hours(1)
        } else {
            day_start
        };
        award.month_start = award.day_start;
    }
    let outcome = ledger::submit(db, request, at).await.unwrap();
    outcome.map(|answer| answer.receipt.amount)
}

#[tokio::test]
async fn check_finds_a_tampered_balance_and_a_tampered_transfer() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let community = world.a.id;
        let staff = world.account_id(Role::CommunityStaff);
        let rule = current_rule(&t.db, community, "proposal_adopted").await;
        for (i, resident) in world.a.residents.iter().enumerate() {
            let outcome = ledger::submit(
                &t.db,
                award_request(
                    community,
                    staff,
                    &format!("tamper-{i:04}"),
                    *resident,
                    &rule,
                    20,
                ),
                Utc::now(),
            )
            .await
            .unwrap();
            assert!(outcome.is_ok());
        }
        ledger_is_sound(&t.db).await;

        // Someone edits a balance behind the ledger's back.
        {
            let mut conn = t.db.acquire().await.unwrap();
            conn.exec()
                .execute_raw(
                    "UPDATE points_accounts SET balance = balance + 5 WHERE kind = 'resident'",
                )
                .await
                .unwrap();
        }
        let report = check::run(&t.db).await.unwrap();
        assert!(!report.is_ok());
        assert!(
            report
                .ledger
                .problems
                .iter()
                .any(|p| p.problem.contains("entries sum to 20")),
            "{:?}",
            report.ledger.problems
        );

        // Transfers refuse edits; with the guard taken away, an edit breaks the chain.
        {
            let mut conn = t.db.acquire().await.unwrap();
            let refused = conn
                .exec()
                .execute_raw("UPDATE points_transfers SET amount = 2000")
                .await;
            assert!(refused.is_err(), "transfers are append-only");
            let drop_guard = if t.engine == "sqlite" {
                "DROP TRIGGER points_transfers_no_update"
            } else {
                "ALTER TABLE points_transfers DISABLE TRIGGER points_transfers_append_only"
            };
            conn.exec().execute_raw(drop_guard).await.unwrap();
            conn.exec()
                .execute_raw("UPDATE points_transfers SET amount = 2000 WHERE seq = 1")
                .await
                .unwrap();
        }
        let report = check::run(&t.db).await.unwrap();
        let problems: Vec<&str> = report
            .ledger
            .problems
            .iter()
            .map(|p| p.problem.as_str())
            .collect();
        assert!(
            problems.iter().any(|p| p.contains("hash mismatch")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("entries do not match")),
            "{problems:?}"
        );
    }
}

/// A partner merchant of community `a` with an offer, and a partner account registered
/// to confirm for it. Returns (offer id, partner token).
async fn partner_offer(
    app: &TestApp,
    world: &World,
    cost: i64,
    stock: i64,
    tag: &str,
) -> (String, String) {
    let staff = app.token(world.username(Role::CommunityStaff)).await;
    let r = app
        .post_json(
            &format!("/api/v1/communities/{}/organisations", world.a.id),
            &staff,
            &json!({ "kind": "merchant", "name": format!("社区理发店{tag}") }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let org: Value = r.json().await.unwrap();
    let until = (Utc::now() + Duration::days(30)).to_rfc3339();
    let r = app
        .post_json(
            "/api/v1/points/catalogue",
            &staff,
            &json!({ "provider_kind": "partner", "provider_id": org["id"], "title": "理发八折", "kind": "discount", "cost": cost, "stock": stock, "valid_until": until }),
        )
        .await;
    assert_eq!(r.status(), 201);
    let offer: Value = r.json().await.unwrap();
    let partner_name = format!("pt-partner-{tag}");
    let partner = add_account(&app.db, &partner_name, Some(world.a.id)).await;
    grant(&app.db, world.a.id, partner, Role::Partner, &[]).await;
    let r = app
        .post_json(
            &format!("/api/v1/communities/{}/points-confirmers", world.a.id),
            &staff,
            &json!({ "provider_id": org["id"], "account_id": partner }),
        )
        .await;
    assert_eq!(r.status(), 204);
    (
        offer["id"].as_str().unwrap().to_owned(),
        app.token(&partner_name).await,
    )
}

/// Awards `points` to a resident straight through the store (manual rule, small steps).
async fn give(db: &Db, world: &World, resident: ResidentId, points: i64, tag: &str) {
    let rule = current_rule(db, world.a.id, "proposal_adopted").await;
    let staff = world.account_id(Role::CommunityStaff);
    let mut left = points;
    let mut i = 0;
    while left > 0 {
        let step = left.min(20);
        let outcome = ledger::submit(
            db,
            award_request(
                world.a.id,
                staff,
                &format!("give-{tag}-{i:04}"),
                resident,
                &rule,
                step,
            ),
            Utc::now(),
        )
        .await
        .unwrap();
        assert!(outcome.is_ok(), "{outcome:?}");
        left -= step;
        i += 1;
    }
}

#[tokio::test]
async fn a_redemption_is_confirmed_once_cancelled_or_given_back_when_it_expires() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let resident = signed_in_resident(&t.db, &world, "pt-redeemer", 6).await;
        let me = app.token("pt-redeemer").await;
        let (offer, partner) = partner_offer(&app, &world, 15, 2, "a").await;
        give(&t.db, &world, resident, 20, "a").await;

        let redeem = json!({ "offer_id": offer });
        let r = app
            .post_keyed("/api/v1/points/redemptions", &me, "redeem-0001", &redeem)
            .await;
        assert_eq!(r.status(), 201, "{}", t.engine);
        let body = r.text().await.unwrap();
        let made: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(
            (
                made["kind"].as_str(),
                made["amount"].as_i64(),
                made["balance"].as_i64()
            ),
            (Some("redeem"), Some(15), Some(5))
        );
        let code = made["code"].as_str().unwrap().to_owned();
        assert_eq!(code.len(), 10);
        let again = app
            .post_keyed("/api/v1/points/redemptions", &me, "redeem-0001", &redeem)
            .await;
        assert_eq!(
            again.text().await.unwrap(),
            body,
            "a replay shows the same code"
        );
        let (status, p) = problem(
            app.post_keyed("/api/v1/points/redemptions", &me, "redeem-0002", &redeem)
                .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str().unwrap()),
            (409, "insufficient_points")
        );
        let catalogue = app.get_json("/api/v1/points/catalogue", &me).await;
        assert_eq!(catalogue[0]["stock"], 1);

        // Someone who is not the partner's confirmer cannot confirm; a wrong code is refused.
        let id = made["redemption_id"].as_str().unwrap();
        let confirm = format!("/api/v1/points/redemptions/{id}/confirm");
        let worker = app.token(world.username(Role::GridWorker)).await;
        assert_eq!(
            app.post_keyed(&confirm, &worker, "confirm-0001", &json!({ "code": code }))
                .await
                .status(),
            404
        );
        let (status, p) = problem(
            app.post_keyed(
                &confirm,
                &partner,
                "confirm-0002",
                &json!({ "code": "0000000000" }),
            )
            .await,
        )
        .await;
        assert_eq!((status, p["code"].as_str().unwrap()), (422, "wrong_code"));
        let typed = format!("{}-{}", &code[..5], code[5..].to_lowercase());
        let r = app
            .post_keyed(
                &confirm,
                &partner,
                "confirm-0003",
                &json!({ "code": typed }),
            )
            .await;
        assert_eq!(r.status(), 201);
        let settled: Value = r.json().await.unwrap();
        assert_eq!(
            (settled["kind"].as_str(), settled["amount"].as_i64()),
            (Some("settle"), Some(15))
        );
        let (status, p) = problem(
            app.post_keyed(&confirm, &partner, "confirm-0004", &json!({ "code": code }))
                .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str().unwrap()),
            (409, "redemption_not_pending")
        );

        // Cancelled: points and stock come back.
        give(&t.db, &world, resident, 10, "b").await;
        let r = app
            .post_keyed("/api/v1/points/redemptions", &me, "redeem-0003", &redeem)
            .await;
        let second: Value = r.json().await.unwrap();
        assert_eq!(second["balance"], 0);
        let cancel = format!(
            "/api/v1/points/redemptions/{}/cancel",
            second["redemption_id"].as_str().unwrap()
        );
        let r = app
            .post_keyed(&cancel, &me, "cancel-0001", &json!({}))
            .await;
        assert_eq!(r.status(), 201);
        let back: Value = r.json().await.unwrap();
        assert_eq!(
            (back["kind"].as_str(), back["balance"].as_i64()),
            (Some("refund"), Some(15))
        );
        let (status, _) = problem(
            app.post_keyed(&cancel, &me, "cancel-0002", &json!({}))
                .await,
        )
        .await;
        assert_eq!(status, 409);
        let catalogue = app.get_json("/api/v1/points/catalogue", &me).await;
        assert_eq!(catalogue[0]["stock"], 1);

        // Unconfirmed past its time: the code no longer works, and the sweep gives it back.
        let r = app
            .post_keyed("/api/v1/points/redemptions", &me, "redeem-0004", &redeem)
            .await;
        let third: Value = r.json().await.unwrap();
        let third_id: Uuid = third["redemption_id"].as_str().unwrap().parse().unwrap();
        let later = Utc::now() + Duration::days(8);
        let late = ledger::submit(
            &t.db,
            LedgerRequest {
                community: world.a.id,
                actor: None,
                key: None,
                request: json!({ "op": "confirm" }),
                change: Change::Confirm(ledger::Confirm {
                    redemption: third_id,
                    code_hash: linli_web::points::code_hash(third["code"].as_str().unwrap()),
                }),
                audit: None,
            },
            later,
        )
        .await
        .unwrap();
        assert_eq!(late, Err(Refusal::CodeExpired));
        let state = linli_web::AppState::new(
            t.db.clone(),
            crate::support::test_key(),
            linli_web::Settings::default(),
        );
        assert_eq!(
            linli_web::points::expire_redemptions(&state, Utc::now())
                .await
                .unwrap(),
            0,
            "not due yet"
        );
        assert_eq!(
            linli_web::points::expire_redemptions(&state, later)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            linli_web::points::expire_redemptions(&state, later)
                .await
                .unwrap(),
            0,
            "given back once"
        );
        let mine = app.get_json("/api/v1/me/points", &me).await;
        assert_eq!(mine["balance"], 15);
        let list = app.get_json("/api/v1/me/redemptions", &me).await;
        let statuses: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["status"].as_str().unwrap())
            .collect();
        assert_eq!(statuses, ["expired", "cancelled", "confirmed"]);
        assert!(list[0]["code"].is_null());

        // What is held in escrow is exactly what is pending: nothing now.
        let escrow = {
            let mut conn = t.db.acquire().await.unwrap();
            linli_store::points::accounts::history(
                &mut conn.exec(),
                world.a.id,
                ledger::escrow_account(world.a.id),
                None,
                1,
            )
            .await
            .unwrap()
            .balance
        };
        assert_eq!(escrow, 0);
        ledger_is_sound(&t.db).await;
    }
}

#[tokio::test]
async fn fifty_simultaneous_redemptions_against_a_balance_for_one() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let resident = signed_in_resident(&t.db, &world, "pt-rush", 7).await;
        let me = app.token("pt-rush").await;
        let (offer, _) = partner_offer(&app, &world, 15, 100, "b").await;
        give(&t.db, &world, resident, 20, "rush").await;
        let body = json!({ "offer_id": offer });
        let tries = (0..50).map(|i| {
            let (app, me, body) = (&app, &me, &body);
            async move {
                let r = app
                    .post_keyed(
                        "/api/v1/points/redemptions",
                        me,
                        &format!("rush-{i:04}"),
                        body,
                    )
                    .await;
                let status = r.status().as_u16();
                let value: Value = r.json().await.unwrap();
                (status, value)
            }
        });
        let answers = futures::future::join_all(tries).await;
        let made = answers.iter().filter(|(s, _)| *s == 201).count();
        let short = answers
            .iter()
            .filter(|(s, v)| *s == 409 && v["code"] == "insufficient_points")
            .count();
        assert_eq!((made, short), (1, 49), "{}: {answers:?}", t.engine);
        assert_eq!(app.get_json("/api/v1/me/points", &me).await["balance"], 5);
        ledger_is_sound(&t.db).await;
    }
}

#[tokio::test]
async fn stock_is_never_oversold() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let resident = signed_in_resident(&t.db, &world, "pt-stock", 8).await;
        let me = app.token("pt-stock").await;
        let (offer, _) = partner_offer(&app, &world, 1, 3, "c").await;
        give(&t.db, &world, resident, 100, "stock").await;
        let body = json!({ "offer_id": offer });
        let tries = (0..20).map(|i| {
            let (app, me, body) = (&app, &me, &body);
            async move {
                let r = app
                    .post_keyed(
                        "/api/v1/points/redemptions",
                        me,
                        &format!("stock-{i:04}"),
                        body,
                    )
                    .await;
                let status = r.status().as_u16();
                let value: Value = r.json().await.unwrap();
                (status, value)
            }
        });
        let answers = futures::future::join_all(tries).await;
        let made = answers.iter().filter(|(s, _)| *s == 201).count();
        let gone = answers
            .iter()
            .filter(|(s, v)| *s == 409 && v["code"] == "sold_out")
            .count();
        assert_eq!((made, gone), (3, 17), "{}: {answers:?}", t.engine);
        assert_eq!(app.get_json("/api/v1/me/points", &me).await["balance"], 97);
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let all = app.get_json("/api/v1/points/catalogue", &staff).await;
        assert_eq!(all[0]["stock"], 0);
        ledger_is_sound(&t.db).await;
        assert_eq!(
            t.db.ledger_batches_run_again().unwrap_or(0),
            0,
            "{}: the batches were decided one by one",
            t.engine
        );
    }
}

/// A redemption of an offer the community does not have is refused, in the same group
/// commit as redemptions that go through: each answer is its own, and the refused one
/// moves no points.
#[tokio::test]
async fn an_unknown_offer_is_refused_beside_redemptions_that_go_through() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let resident = signed_in_resident(&t.db, &world, "pt-unknown", 8).await;
        let me = app.token("pt-unknown").await;
        let (offer, _) = partner_offer(&app, &world, 2, 100, "u").await;
        give(&t.db, &world, resident, 50, "unknown-offer").await;
        let tries = (0..12).map(|i| {
            let (app, me) = (&app, &me);
            let asked = if i % 3 == 0 {
                Uuid::now_v7().to_string()
            } else {
                offer.clone()
            };
            async move {
                let r = app
                    .post_keyed(
                        "/api/v1/points/redemptions",
                        me,
                        &format!("unknown-{i:04}"),
                        &json!({ "offer_id": asked }),
                    )
                    .await;
                let status = r.status().as_u16();
                let value: Value = r.json().await.unwrap();
                (i, status, value)
            }
        });
        let answers = futures::future::join_all(tries).await;
        for (i, status, value) in &answers {
            if i % 3 == 0 {
                assert_eq!(*status, 409, "{}: {value}", t.engine);
                assert_eq!(value["code"], "offer_unavailable", "{}: {value}", t.engine);
            } else {
                assert_eq!(*status, 201, "{}: {value}", t.engine);
            }
        }
        // Eight redemptions at 2 points each.
        assert_eq!(app.get_json("/api/v1/me/points", &me).await["balance"], 34);
        ledger_is_sound(&t.db).await;
    }
}

#[tokio::test]
async fn a_failing_request_in_a_group_commit_fails_alone() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let community = world.a.id;
        let staff = world.account_id(Role::CommunityStaff);
        let rule = current_rule(&t.db, community, "proposal_adopted").await;
        // Thirty awards at once; one names an actor account that does not exist, which the
        // database refuses (foreign key) only when the transfer is written.
        let mut requests = Vec::new();
        for i in 0..30 {
            let actor = if i == 17 { AccountId::new() } else { staff };
            let resident = world.a.residents[i % 2];
            requests.push(award_request(
                community,
                actor,
                &format!("batch-{i:04}"),
                resident,
                &rule,
                20,
            ));
        }
        let outcomes = futures::future::join_all(
            requests
                .into_iter()
                .map(|r| ledger::submit(&t.db, r, Utc::now())),
        )
        .await;
        for (i, outcome) in outcomes.iter().enumerate() {
            if i == 17 {
                assert!(
                    matches!(outcome, Err(linli_store::StoreError::ForeignKey(_))),
                    "{}: {outcome:?}",
                    t.engine
                );
            } else {
                assert!(
                    matches!(outcome, Ok(Ok(_))),
                    "{} request {i}: {outcome:?}",
                    t.engine
                );
            }
        }
        let report = ledger_is_sound(&t.db).await;
        assert_eq!(report.ledger.transfers_checked, 29, "{}", t.engine);
        if let Some(run_again) = t.db.ledger_batches_run_again() {
            assert!(run_again >= 1, "the failing batch was not run again");
        }
    }
}

/// Awards, their retries and redemptions sent at once are decided in one order. On SQLite
/// they share batches, planned in memory: a redemption counting the awards before it in
/// the batch, a retry answered from an award not yet written. Every answer must
/// agree with the chain: the receipts in chain order step the balance from one to the
/// next, a retry gets its award's receipt, and a refused redemption saw a balance the
/// resident really had, short of the cost.
#[tokio::test]
async fn awards_retries_and_redemptions_sent_together_agree_with_one_order() {
    const COST: i64 = 30;
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let community = world.a.id;
        let staff = world.account_id(Role::CommunityStaff);
        let resident = world.a.residents[0];
        let rule = current_rule(&t.db, community, "proposal_adopted").await;
        let offer = store_offer(&t.db, &world, COST, 100).await;
        let mut requests = Vec::new();
        for i in 0..60 {
            let key = format!("together-{i:03}");
            if i % 3 == 2 {
                requests.push(redeem_request(community, staff, &key, resident, offer));
            } else {
                let award = award_request(community, staff, &key, resident, &rule, 20);
                requests.push(award.clone());
                requests.push(award);
            }
        }
        let outcomes = futures::future::join_all(
            requests
                .iter()
                .map(|r| ledger::submit(&t.db, r.clone(), Utc::now())),
        )
        .await;

        let mut made = Vec::new();
        let mut by_key: HashMap<String, Vec<ledger::Answer>> = HashMap::new();
        let mut refused_at = Vec::new();
        for (request, outcome) in requests.iter().zip(outcomes) {
            let key = request.key.as_ref().unwrap().as_str().to_owned();
            match outcome.unwrap() {
                Ok(answer) => {
                    if !answer.replayed {
                        made.push(answer.receipt.clone());
                    }
                    by_key.entry(key).or_default().push(answer);
                }
                Err(Refusal::InsufficientPoints { balance }) => refused_at.push(balance),
                Err(other) => panic!("{}: {key} refused: {other:?}", t.engine),
            }
        }
        // Each award and its retry: one made, one replayed, the same receipt.
        for (key, answers) in &by_key {
            if answers.len() == 2 {
                assert_eq!(
                    answers[0].receipt, answers[1].receipt,
                    "{}: {key}",
                    t.engine
                );
                assert_eq!(
                    answers.iter().filter(|a| a.replayed).count(),
                    1,
                    "{}: {key}",
                    t.engine
                );
            }
        }
        made.sort_by_key(|r| r.seq);
        let mut balance = 0;
        let mut seen = vec![0];
        for receipt in &made {
            balance += match receipt.kind.as_str() {
                "award" => receipt.amount,
                "redeem" => -receipt.amount,
                other => panic!("unexpected transfer {other}"),
            };
            assert_eq!(
                receipt.balance,
                Some(balance),
                "{}: seq {}",
                t.engine,
                receipt.seq
            );
            seen.push(balance);
        }
        assert_eq!(made.iter().filter(|r| r.kind == "award").count(), 40);
        for at in &refused_at {
            assert!(
                *at < COST && seen.contains(at),
                "{}: refused at {at}",
                t.engine
            );
        }
        assert!(
            made.iter().any(|r| r.kind == "redeem"),
            "{}: no redemption went through",
            t.engine
        );
        assert_eq!(ledger_balance(&t.db, community, resident).await, balance);
        ledger_is_sound(&t.db).await;
        // Decided together: no batch fell back to running its requests one by one (which
        // gives the same answers, so only this count tells).
        assert_eq!(
            t.db.ledger_batches_run_again().unwrap_or(0),
            0,
            "{}",
            t.engine
        );
    }
}

async fn ledger_balance(db: &Db, community: CommunityId, resident: ResidentId) -> i64 {
    let mut conn = db.acquire().await.unwrap();
    linli_store::points::accounts::history(&mut conn.exec(), community, resident.0, None, 1)
        .await
        .unwrap()
        .balance
}

/// More awards at once than one batch of SQLite's ledger queue takes (512): the rest wait
/// for the next batch, and every one is made exactly once.
#[tokio::test]
async fn more_awards_at_once_than_one_batch_takes_are_all_made() {
    const AWARDS: usize = 700;
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let community = world.a.id;
        let staff = world.account_id(Role::CommunityStaff);
        let rule = current_rule(&t.db, community, "proposal_adopted").await;
        let outcomes = futures::future::join_all((0..AWARDS).map(|i| {
            let resident = world.a.residents[i % 2];
            let request = award_request(
                community,
                staff,
                &format!("flood-{i:04}"),
                resident,
                &rule,
                20,
            );
            ledger::submit(&t.db, request, Utc::now())
        }))
        .await;
        let made = outcomes
            .iter()
            .filter(|o| matches!(o, Ok(Ok(answer)) if !answer.replayed))
            .count();
        assert_eq!(made, AWARDS, "{}", t.engine);
        let report = ledger_is_sound(&t.db).await;
        assert_eq!(
            report.ledger.transfers_checked, AWARDS as u64,
            "{}",
            t.engine
        );
    }
}

#[tokio::test]
async fn large_manual_awards_wait_for_a_second_approver() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let resident = signed_in_resident(&t.db, &world, "pt-approved", 2).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let admin = app.token(world.username(Role::CommunityAdmin)).await;
        let worker = app.token(world.username(Role::GridWorker)).await;
        let me = app.token("pt-approved").await;

        // Above the commendation rule's threshold of 50: filed, not awarded.
        let big = json!({ "resident_id": resident, "rule": "commendation", "points": 80, "memo": "抢险救灾表彰" });
        let asked = app
            .post_keyed("/api/v1/points/awards", &staff, "approve-0001", &big)
            .await;
        assert_eq!(asked.status(), 202, "{}", t.engine);
        let asked_body = asked.text().await.unwrap();
        let request: Value = serde_json::from_str(&asked_body).unwrap();
        assert_eq!(
            (request["status"].as_str(), request["points"].as_i64()),
            (Some("pending"), Some(80))
        );
        let again = app
            .post_keyed("/api/v1/points/awards", &staff, "approve-0001", &big)
            .await;
        assert_eq!(
            (
                again.status().as_u16(),
                again.headers()["idempotent-replayed"].to_str().unwrap()
            ),
            (202, "true")
        );
        assert_eq!(again.text().await.unwrap(), asked_body);
        assert_eq!(app.get_json("/api/v1/me/points", &me).await["balance"], 0);

        let pending = app
            .get_json(
                &format!("/api/v1/points/approvals?community_id={}", world.a.id),
                &admin,
            )
            .await;
        assert_eq!(pending.as_array().unwrap().len(), 1);
        let id = request["id"].as_str().unwrap();
        let decide = format!("/api/v1/points/approvals/{id}/decision");
        let approve = json!({ "decision": "approve", "note": "情况属实" });
        // Not by the one who asked; not by a grid worker; a decline needs a reason.
        let (status, p) = problem(
            app.post_keyed(&decide, &staff, "decide-0001", &approve)
                .await,
        )
        .await;
        assert_eq!((status, p["code"].as_str()), (409, Some("same_approver")));
        let (status, _) = problem(
            app.post_keyed(&decide, &worker, "decide-0001", &approve)
                .await,
        )
        .await;
        assert_eq!(status, 404);
        let (status, p) = problem(
            app.post_keyed(
                &decide,
                &admin,
                "decide-0002",
                &json!({ "decision": "decline" }),
            )
            .await,
        )
        .await;
        assert_eq!((status, p["code"].as_str()), (422, Some("reason_required")));
        assert_eq!(app.get_json("/api/v1/me/points", &me).await["balance"], 0);

        // Approved: the points arrive, once; a retry answers the same.
        let first = app
            .post_keyed(&decide, &admin, "decide-0003", &approve)
            .await;
        assert_eq!(first.status(), 201);
        let first_body = first.text().await.unwrap();
        let decided: Value = serde_json::from_str(&first_body).unwrap();
        assert_eq!(decided["status"], "approved");
        assert!(decided["transfer_id"].is_string());
        let retry = app
            .post_keyed(&decide, &admin, "decide-0003", &approve)
            .await;
        assert_eq!(retry.text().await.unwrap(), first_body);
        let (status, p) = problem(
            app.post_keyed(
                &decide,
                &admin,
                "decide-0003",
                &json!({ "decision": "decline", "note": "x" }),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (409, Some("idempotency_key_reused"))
        );
        let mine = app.get_json("/api/v1/me/points", &me).await;
        assert_eq!(
            (
                mine["balance"].as_i64(),
                mine["entries"][0]["memo"].as_str()
            ),
            (Some(80), Some("抢险救灾表彰"))
        );

        // Another request, declined: nothing moves; deciding again is refused.
        let other = json!({ "resident_id": resident, "rule": "commendation", "points": 60 });
        let asked: Value = app
            .post_keyed("/api/v1/points/awards", &staff, "approve-0002", &other)
            .await
            .json()
            .await
            .unwrap();
        let decide = format!(
            "/api/v1/points/approvals/{}/decision",
            asked["id"].as_str().unwrap()
        );
        let declined: Value = app
            .post_keyed(
                &decide,
                &admin,
                "decide-0004",
                &json!({ "decision": "decline", "note": "证明材料不足" }),
            )
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(declined["status"], "declined");
        assert!(declined["transfer_id"].is_null());
        let (status, p) = problem(
            app.post_keyed(&decide, &admin, "decide-0005", &approve)
                .await,
        )
        .await;
        assert_eq!((status, p["code"].as_str()), (409, Some("already_decided")));
        assert_eq!(app.get_json("/api/v1/me/points", &me).await["balance"], 80);
        let pending = app
            .get_json(
                &format!("/api/v1/points/approvals?community_id={}", world.a.id),
                &admin,
            )
            .await;
        assert_eq!(pending.as_array().unwrap().len(), 0);
        ledger_is_sound(&t.db).await;
    }
}

#[tokio::test]
async fn a_proxy_acts_for_an_elderly_resident_with_consent() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        // An 80-year-old without a phone account, and her daughter, a resident who signs in.
        let elder = crate::support::add_person(
            &t.db,
            world.a.id,
            world.a.grids[0],
            40,
            (
                "王奶奶".into(),
                "13700000040".into(),
                "44030319460303004".into(),
            ),
            None,
        )
        .await;
        let daughter = add_account(&t.db, "pt-daughter", Some(world.a.id)).await;
        grant(&t.db, world.a.id, daughter, Role::Resident, &[]).await;
        add_resident(&t.db, world.a.id, world.a.grids[0], 41, Some(daughter)).await;
        signed_in_resident(&t.db, &world, "pt-neighbour", 42).await;
        let young = signed_in_resident(&t.db, &world, "pt-young", 43).await;
        let proposal = json!({ "resident_id": elder, "rule": "proposal_adopted" });
        for i in 0..5 {
            let r = app
                .post_keyed(
                    "/api/v1/points/awards",
                    &staff,
                    &format!("elder-{i:04}"),
                    &proposal,
                )
                .await;
            assert_eq!(r.status(), 201);
        }

        let ask = |resident: ResidentId, account: AccountId, evidence: &str| json!({ "resident_id": resident, "proxy_account_id": account, "relation": "family", "consent_evidence": evidence });
        // Refused: a resident under 60, no consent recorded, an account from elsewhere.
        for (body, code) in [
            (ask(young, daughter, "本人签署授权书"), "not_elderly"),
            (ask(elder, daughter, "  "), "consent_required"),
            (
                ask(elder, world.targets[2], "本人签署授权书"),
                "proxy_not_in_community",
            ),
        ] {
            let (status, p) =
                problem(app.post_json("/api/v1/points/proxies", &staff, &body).await).await;
            assert_eq!((status, p["code"].as_str().unwrap()), (422, code), "{body}");
        }
        let proxy = app
            .post_json(
                "/api/v1/points/proxies",
                &staff,
                &ask(elder, daughter, "本人签署授权书，网格员见证"),
            )
            .await;
        assert_eq!(proxy.status(), 201, "{}", t.engine);
        let proxy: Value = proxy.json().await.unwrap();
        let (status, p) = problem(
            app.post_json(
                "/api/v1/points/proxies",
                &staff,
                &ask(elder, daughter, "再次登记授权"),
            )
            .await,
        )
        .await;
        assert_eq!((status, p["code"].as_str().unwrap()), (409, "proxy_exists"));

        // The daughter sees whom she acts for and redeems with her mother's points.
        let me = app.token("pt-daughter").await;
        let neighbour = app.token("pt-neighbour").await;
        let acting = app.get_json("/api/v1/me/proxies", &me).await;
        assert_eq!(
            (acting[0]["name"].as_str(), acting[0]["balance"].as_i64()),
            (Some("王奶奶"), Some(100))
        );
        assert_eq!(
            app.get(&format!("/api/v1/points/accounts/{elder}"), &me)
                .await
                .status(),
            200
        );
        assert_eq!(
            app.get(&format!("/api/v1/points/accounts/{elder}"), &neighbour)
                .await
                .status(),
            404
        );
        let offer = store_offer(&t.db, &world, 30, 5).await;
        let for_her = json!({ "offer_id": offer, "on_behalf_of": elder });
        let (status, _) = problem(
            app.post_keyed(
                "/api/v1/points/redemptions",
                &neighbour,
                "proxy-r-0001",
                &for_her,
            )
            .await,
        )
        .await;
        assert_eq!(status, 404);
        let redeemed = app
            .post_keyed("/api/v1/points/redemptions", &me, "proxy-r-0002", &for_her)
            .await;
        assert_eq!(redeemed.status(), 201);
        let redeemed: Value = redeemed.json().await.unwrap();
        assert_eq!(redeemed["balance"], 70);
        let pending = app
            .get_json(&format!("/api/v1/me/redemptions?on_behalf_of={elder}"), &me)
            .await;
        assert_eq!(pending[0]["status"], "pending");
        assert_eq!(app.get_json("/api/v1/me/points", &me).await["balance"], 0);
        // She can cancel it for her; a neighbour cannot.
        let cancel = format!(
            "/api/v1/points/redemptions/{}/cancel",
            redeemed["redemption_id"].as_str().unwrap()
        );
        let (status, _) = problem(
            app.post_keyed(&cancel, &neighbour, "proxy-c-0001", &json!({}))
                .await,
        )
        .await;
        assert_eq!(status, 404);
        let cancelled: Value = app
            .post_keyed(&cancel, &me, "proxy-c-0002", &json!({}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(cancelled["balance"], 100);

        // Revoked: she can no longer act; revoking twice is refused; all of it audited.
        let revoke = format!(
            "/api/v1/points/proxies/{}/revoke",
            proxy["id"].as_str().unwrap()
        );
        let r = app
            .post_json(&revoke, &staff, &json!({ "reason": "老人撤回授权" }))
            .await;
        assert_eq!(r.status(), 200);
        let (status, p) = problem(
            app.post_json(&revoke, &staff, &json!({ "reason": "老人撤回授权" }))
                .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str().unwrap()),
            (409, "proxy_revoked")
        );
        let (status, _) = problem(
            app.post_keyed("/api/v1/points/redemptions", &me, "proxy-r-0003", &for_her)
                .await,
        )
        .await;
        assert_eq!(status, 404);
        let listed = app
            .get_json(
                &format!("/api/v1/points/proxies?resident_id={elder}"),
                &staff,
            )
            .await;
        assert!(listed[0]["revoked_at"].is_string());
        let auditor = app.token(world.username(Role::Auditor)).await;
        let log = app
            .get_json(
                &format!("/api/v1/communities/{}/audit", world.a.id),
                &auditor,
            )
            .await;
        let actions: Vec<&str> = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        for action in [
            "points_proxy_granted",
            "points_redeemed_by_proxy",
            "points_proxy_revoked",
        ] {
            assert!(actions.contains(&action), "{action} in {actions:?}");
        }
        ledger_is_sound(&t.db).await;
    }
}

#[tokio::test]
async fn old_points_expire_when_a_community_turns_expiry_on() {
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let resident = signed_in_resident(&t.db, &world, "pt-expiry", 2).await;
        let admin = app.token(world.username(Role::CommunityAdmin)).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let me = app.token("pt-expiry").await;
        let settings = format!("/api/v1/communities/{}/points-settings", world.a.id);
        // Off by default.
        let off = app.get_json(&settings, &me).await;
        assert_eq!(
            (off["expiry_months"].is_null(), off["notice_days"].as_i64()),
            (true, Some(30))
        );
        let on = json!({ "expiry_months": 12, "notice_days": 30 });
        assert_eq!(app.put_json(&settings, &staff, &on).await.status(), 403);
        let (status, _) = problem(
            app.put_json(&settings, &admin, &json!({ "expiry_months": 0 }))
                .await,
        )
        .await;
        assert_eq!(status, 422);
        assert_eq!(app.put_json(&settings, &admin, &on).await.status(), 200);

        // Earned 14 months ago (expires), 13 months ago but taken back (nothing left to
        // expire), 12 months less 10 days ago (expires within the notice period), and last
        // month (stays).
        let rule = current_rule(&t.db, world.a.id, "proposal_adopted").await;
        let staff_id = world.account_id(Role::CommunityStaff);
        let now = Utc::now();
        let months = |m: u32| now.checked_sub_months(chrono::Months::new(m)).unwrap();
        let award_at = |key: &'static str, at| {
            let request = award_request(world.a.id, staff_id, key, resident, &rule, 20);
            let db = t.db.clone();
            async move {
                ledger::submit(&db, request, at)
                    .await
                    .unwrap()
                    .unwrap()
                    .receipt
                    .transfer_id
            }
        };
        award_at("expiry-0001", months(14)).await;
        let taken_back = award_at("expiry-0002", months(13)).await;
        ledger::submit(
            &t.db,
            reversal_request(world.a.id, staff_id, "expiry-0003", taken_back),
            months(13) + Duration::days(3),
        )
        .await
        .unwrap()
        .unwrap();
        award_at("expiry-0004", months(12) + Duration::days(10)).await;
        award_at("expiry-0005", months(1)).await;
        assert_eq!(app.get_json("/api/v1/me/points", &me).await["balance"], 60);

        let state = linli_web::AppState::new(
            t.db.clone(),
            crate::support::test_key(),
            linli_web::Settings::default(),
        );
        let run = linli_web::points::expire_points(&state, now).await.unwrap();
        assert_eq!(
            (run.expired_accounts, run.expired_points, run.notices),
            (1, 20, 1),
            "{}",
            t.engine
        );
        let mine = app.get_json("/api/v1/me/points", &me).await;
        assert_eq!(
            (
                mine["balance"].as_i64(),
                mine["entries"][0]["kind"].as_str()
            ),
            (Some(40), Some("expiry"))
        );
        // Once a day, however many servers.
        let again = linli_web::points::expire_points(&state, now + Duration::minutes(5))
            .await
            .unwrap();
        assert_eq!(again, linli_web::points::ExpiryRun::default());
        let inbox = app.get_json("/api/v1/me/notifications", &me).await;
        let notices: Vec<&Value> = inbox["items"]
            .as_array()
            .or(inbox.as_array())
            .unwrap()
            .iter()
            .filter(|n| n["kind"] == "points_expiring")
            .collect();
        assert_eq!(notices.len(), 1, "{inbox}");
        assert!(notices[0]["body"].as_str().unwrap().contains("20 积分"));
        // A day later the notice is not repeated, and the 10-day-old points are not due.
        let next_day = linli_web::points::expire_points(
            &state,
            now + Duration::days(1) + Duration::minutes(1),
        )
        .await
        .unwrap();
        assert_eq!((next_day.expired_accounts, next_day.notices), (0, 0));
        ledger_is_sound(&t.db).await;
    }
}

#[tokio::test]
async fn monthly_rankings_are_published_masked_and_open_to_objections() {
    use chrono::{Datelike, TimeZone};
    for t in TestDb::all().await {
        let world = seed_world(&t.db).await;
        let app = TestApp::spawn(&t.db).await;
        let staff = app.token(world.username(Role::CommunityStaff)).await;
        let worker = app.token(world.username(Role::GridWorker)).await;
        let first = signed_in_resident(&t.db, &world, "pt-rank-1", 70).await;
        let second = signed_in_resident(&t.db, &world, "pt-rank-2", 71).await;
        let third = add_resident(&t.db, world.a.id, world.a.grids[0], 72, None).await;
        let elsewhere = add_resident(&t.db, world.a.id, world.a.grids[1], 73, None).await;
        // Last month in the community's time (UTC+8).
        let china = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
        let local = Utc::now().with_timezone(&china);
        let this_month = china
            .with_ymd_and_hms(local.year(), local.month(), 1, 0, 0, 0)
            .unwrap();
        let mid_last = (this_month - Duration::days(15)).with_timezone(&Utc);
        let month = (this_month - Duration::days(15))
            .format("%Y-%m")
            .to_string();
        let rule = current_rule(&t.db, world.a.id, "proposal_adopted").await;
        let staff_id = world.account_id(Role::CommunityStaff);
        let mut n = 0;
        let mut award = |resident, points: i64| {
            n += 1;
            let request = award_request(
                world.a.id,
                staff_id,
                &format!("rank-{n:04}"),
                resident,
                &rule,
                points,
            );
            let db = t.db.clone();
            async move {
                ledger::submit(&db, request, mid_last)
                    .await
                    .unwrap()
                    .unwrap()
                    .receipt
                    .transfer_id
            }
        };
        award(first, 20).await;
        award(first, 5).await;
        award(second, 10).await;
        award(third, 10).await;
        let undone = award(second, 20).await;
        award(elsewhere, 50).await;
        ledger::submit(
            &t.db,
            reversal_request(world.a.id, staff_id, "rank-undo-1", undone),
            mid_last + Duration::hours(1),
        )
        .await
        .unwrap()
        .unwrap();

        let publish = json!({ "grid_id": world.a.grids[0], "month": month });
        let r = app
            .post_json("/api/v1/points/rankings", &staff, &publish)
            .await;
        assert_eq!(r.status(), 201, "{}", t.engine);
        let ranking: Value = r.json().await.unwrap();
        let lines = ranking["lines"].as_array().unwrap();
        let shown: Vec<(i64, &str, i64)> = lines
            .iter()
            .map(|l| {
                (
                    l["rank"].as_i64().unwrap(),
                    l["name"].as_str().unwrap(),
                    l["points"].as_i64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            vec![(1, "居***", 25), (2, "居***", 10), (2, "居***", 10)]
        );
        assert!(!ranking.to_string().contains("居民70"), "names are masked");
        // Once per grid and month; only months that are over; grid workers their grids.
        let (status, p) = problem(
            app.post_json("/api/v1/points/rankings", &staff, &publish)
                .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (409, Some("ranking_published"))
        );
        let now_month = local.format("%Y-%m").to_string();
        let (status, p) = problem(
            app.post_json(
                "/api/v1/points/rankings",
                &staff,
                &json!({ "grid_id": world.a.grids[0], "month": now_month }),
            )
            .await,
        )
        .await;
        assert_eq!((status, p["code"].as_str()), (422, Some("month_not_over")));
        let (status, _) = problem(
            app.post_json(
                "/api/v1/points/rankings",
                &staff,
                &json!({ "grid_id": world.a.grids[0], "month": "2026-13" }),
            )
            .await,
        )
        .await;
        assert_eq!(status, 422);
        let (status, _) = problem(
            app.post_json(
                "/api/v1/points/rankings",
                &worker,
                &json!({ "grid_id": world.a.grids[1], "month": month }),
            )
            .await,
        )
        .await;
        assert_eq!(status, 404);

        // A resident objects; only they and staff read the reason; staff answer once.
        let id = ranking["id"].as_str().unwrap();
        let me = app.token("pt-rank-2").await;
        let other = app.token("pt-rank-1").await;
        let objection = app
            .post_json(
                &format!("/api/v1/points/rankings/{id}/objections"),
                &me,
                &json!({ "line": 2, "reason": "我本月还参加了议事会" }),
            )
            .await;
        assert_eq!(objection.status(), 201);
        let objection: Value = objection.json().await.unwrap();
        let (status, _) = problem(
            app.post_json(
                &format!("/api/v1/points/rankings/{id}/objections"),
                &me,
                &json!({ "line": 9, "reason": "行号不存在" }),
            )
            .await,
        )
        .await;
        assert_eq!(status, 422);
        let seen = |v: &Value| v["objections"][0]["reason"].clone();
        assert_eq!(
            seen(
                &app.get_json(&format!("/api/v1/points/rankings/{id}"), &me)
                    .await
            ),
            "我本月还参加了议事会"
        );
        assert!(
            seen(
                &app.get_json(&format!("/api/v1/points/rankings/{id}"), &other)
                    .await
            )
            .is_null()
        );
        assert_eq!(
            seen(
                &app.get_json(&format!("/api/v1/points/rankings/{id}"), &staff)
                    .await
            ),
            "我本月还参加了议事会"
        );
        let answer = format!(
            "/api/v1/points/ranking-objections/{}/answer",
            objection["id"].as_str().unwrap()
        );
        let body = json!({ "outcome": "dismissed", "answer": "议事会积分已计入第2名" });
        let (status, _) = problem(app.post_json(&answer, &me, &body).await).await;
        assert_eq!(status, 404);
        assert_eq!(app.post_json(&answer, &staff, &body).await.status(), 200);
        let (status, p) = problem(app.post_json(&answer, &staff, &body).await).await;
        assert_eq!(
            (status, p["code"].as_str()),
            (409, Some("objection_answered"))
        );
        let listed = app
            .get_json(
                &format!("/api/v1/points/rankings?community_id={}", world.a.id),
                &me,
            )
            .await;
        assert_eq!(listed.as_array().unwrap().len(), 1);

        // After the notice period, objections are closed.
        let closed = {
            let mut conn = t.db.acquire().await.unwrap();
            let long_ago = Utc::now() - Duration::days(40);
            linli_store::points::rankings::publish(
                &mut conn.exec(),
                world.a.id,
                world.a.grids[0].0,
                "2020-01",
                &[],
                staff_id,
                long_ago,
                long_ago + Duration::days(7),
            )
            .await
            .unwrap()
        };
        let (status, p) = problem(
            app.post_json(
                &format!("/api/v1/points/rankings/{closed}/objections"),
                &me,
                &json!({ "reason": "太晚了吗" }),
            )
            .await,
        )
        .await;
        assert_eq!(
            (status, p["code"].as_str()),
            (409, Some("objection_window_closed"))
        );
    }
}
