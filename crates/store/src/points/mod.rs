//! Contribution points: earning rules, accounts, and the ledger (see [`ledger`]).

pub mod accounts;
pub mod approvals;
pub mod catalogue;
pub mod check;
pub mod expiry;
pub mod ledger;
pub(crate) mod lite_ledger;
pub(crate) mod memory_run;
pub(crate) mod pg_ledger;
pub mod proxies;
pub mod rankings;
pub mod rules;

pub use ledger::{
    Answer, Award, Change, Confirm, Expire, LedgerRequest, Outcome, Receipt, Redeem, Refund,
    RefundReason, Refusal, Reversal, TransferRow, escrow_account, issuance_account,
    recent_transfers, submit, submit_all, transfer_community,
};
pub use rules::{RuleRow, current_rule, current_rules, put_rule, rule_versions, seed_rules};
