//! Unit tests, compiled only under `#[cfg(test)]` (see the parent module).
#![cfg(test)]

//! One test per rule of the one-click lookup (DESIGN §3.5), named after it.

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone};
use cloudcard_core::{CardKind, Pan};
use cloudcard_masking::checks::luhn_check_digit;
use proptest::prelude::*;

use super::*;
use crate::config::Region;
use crate::dispatch::{
    BankQuery, Behaviour, Dispatcher, IdDocument, IdentityBook, LookupConnector, Reply,
    SimulatedBank,
};
use crate::model::{FoundCard, ReportKind, UsageStatus};
use cloudcard_core::StoreError;
use cloudcard_core::messages::{Language, Message, Messages};

fn user() -> UserId {
    "usr_owner".parse().unwrap()
}

/// The owner's identity card, as the banks know them.
fn holder() -> IdDocument {
    IdDocument::resident("110102199101010078".parse().unwrap())
}

/// The wallet's directory: the owner's verified identity.
fn directory() -> Arc<IdentityBook> {
    Arc::new(IdentityBook::new().with(&user(), holder()))
}

/// 10:00 Beijing, 23 November 2026.
fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

fn card(pan: &str, kind: CardKind, usage: Option<UsageStatus>) -> FoundCard {
    FoundCard { pan: pan.parse().unwrap(), kind, usage }
}

fn application(banks: &[Bank]) -> Application {
    Application {
        applicant: Applicant { user: user(), real_name_verified: true, region: Region::SHANGHAI },
        channel: RequestChannel::App,
        request: RequestId::random(),
        banks: banks.iter().copied().collect(),
    }
}

fn auth(lookup: &LookupService, query: &QueryId, at: DateTime<Utc>) -> Authorization {
    Authorization {
        agreement_version: lookup.config().agreement_version.clone(),
        face: Evidence::new(user(), query.clone(), at, true),
        otp: Evidence::new(user(), query.clone(), at, true),
    }
}

fn password(query: &QueryId, at: DateTime<Utc>) -> Evidence<Password> {
    Evidence::new(user(), query.clone(), at, true)
}

fn service() -> LookupService {
    LookupService::new(LookupConfig::default(), InMemoryLookupStore::new())
}

/// Applies, submits and answers through `banks`; returns the query and the events at `at`.
fn run(
    lookup: &LookupService,
    banks: Vec<Arc<dyn LookupConnector>>,
    at: DateTime<Utc>,
) -> (QueryId, Dispatcher, Vec<LookupEvent>) {
    let chosen: Vec<Bank> = banks.iter().map(|b| b.bank()).collect();
    let query = lookup.apply(&application(&chosen), at).unwrap();
    let dispatcher = Dispatcher::new(banks, directory());
    dispatcher
        .send(lookup, lookup.submit_evidence(&query, &auth(lookup, &query, at), at).unwrap(), at)
        .unwrap();
    let events = dispatcher.pump(lookup, at).unwrap();
    (query, dispatcher, events)
}

fn icbc_with_cards() -> Arc<dyn LookupConnector> {
    Arc::new(
        SimulatedBank::new(Bank::Icbc)
            .with_card(
                &holder(),
                card("6222021234567890128", CardKind::Debit, Some(UsageStatus::InUse)),
            )
            .with_card(
                &holder(),
                card("6200000000000005", CardKind::QuasiCredit, Some(UsageStatus::Dormant)),
            ),
    )
}

#[test]
fn rule_1_only_real_name_verified_users_may_apply() {
    let lookup = service();
    let mut a = application(&[Bank::Icbc]);
    a.applicant.real_name_verified = false;
    assert_eq!(lookup.apply(&a, t0()), Err(LookupError::NotRealNameVerified));
}

#[test]
fn rule_1_only_participating_regions() {
    let lookup = LookupService::new(LookupConfig::pilot_2021_12_20(), InMemoryLookupStore::new());
    let mut a = application(&[Bank::Icbc]);
    a.applicant.region = Region::from_code(11).unwrap(); // Beijing joined in 2022
    assert_eq!(lookup.apply(&a, t0()), Err(LookupError::RegionNotParticipating));
    a.applicant.region = Region::YUNNAN;
    assert!(lookup.apply(&a, t0()).is_ok());
}

#[test]
fn rule_1_only_through_the_app() {
    let lookup = service();
    for channel in [
        RequestChannel::Website,
        RequestChannel::OtherApp,
        RequestChannel::OfficialAccount,
        RequestChannel::MiniProgram,
        RequestChannel::Offline,
    ] {
        let mut a = application(&[Bank::Icbc]);
        a.channel = channel;
        assert_eq!(lookup.apply(&a, t0()), Err(LookupError::ChannelNotServed), "{channel:?}");
    }
}

#[test]
fn rule_1_the_user_picks_participating_banks() {
    let lookup = LookupService::new(LookupConfig::pilot_2021_12_20(), InMemoryLookupStore::new());
    assert_eq!(lookup.apply(&application(&[]), t0()), Err(LookupError::NoBankChosen));
    assert_eq!(
        lookup.apply(&application(&[Bank::Ccb]), t0()),
        Err(LookupError::BankNotParticipating(Bank::Ccb))
    );
    let other = Bank::from_code("KMRCU").unwrap();
    assert_eq!(
        lookup.apply(&application(&[other]), t0()),
        Err(LookupError::BankNotParticipating(other))
    );
}

#[test]
fn rule_2_consent_is_recorded_with_its_version_and_banks() {
    let lookup = service();
    let query = lookup.apply(&application(&[Bank::Icbc, Bank::Cmb]), t0()).unwrap();
    let mut a = auth(&lookup, &query, t0());
    a.agreement_version = "2021-12".into();
    assert_eq!(lookup.submit_evidence(&query, &a, t0()), Err(LookupError::AgreementVersion));
    lookup.submit_evidence(&query, &auth(&lookup, &query, t0()), t0()).unwrap();
    let consent = lookup.audit_trail(&query).unwrap().into_iter().find_map(|e| match e.event {
        AuditEvent::Consent { agreement_version, banks } => Some((agreement_version, banks)),
        _ => None,
    });
    assert_eq!(consent, Some(("2022-06".into(), vec![Bank::Icbc, Bank::Cmb])));
}

#[test]
fn rule_2_face_check_and_sms_code_are_both_required() {
    let lookup = service();
    let query = lookup.apply(&application(&[Bank::Icbc]), t0()).unwrap();
    let mut a = auth(&lookup, &query, t0());
    a.face.passed = false;
    assert_eq!(
        lookup.submit_evidence(&query, &a, t0()),
        Err(LookupError::VerificationFailed("face check"))
    );
    let mut a = auth(&lookup, &query, t0());
    a.otp.passed = false;
    assert_eq!(
        lookup.submit_evidence(&query, &a, t0()),
        Err(LookupError::VerificationFailed("sms code"))
    );
    let verifications: Vec<_> = lookup
        .audit_trail(&query)
        .unwrap()
        .into_iter()
        .filter_map(|e| match e.event {
            AuditEvent::Verification { face, otp } => Some((face, otp)),
            _ => None,
        })
        .collect();
    assert_eq!(verifications, vec![(false, true), (true, false)]);
    assert_eq!(lookup.query(&query, &user()).unwrap().state, QueryState::Draft);
}

#[test]
fn rule_2_evidence_is_fresh_and_names_its_user_and_query() {
    let lookup = service();
    let query = lookup.apply(&application(&[Bank::Icbc]), t0()).unwrap();
    let other_query = QueryId::random();
    let mut a = auth(&lookup, &query, t0());
    a.face = Evidence::new("usr_other".parse().unwrap(), query.clone(), t0(), true);
    assert_eq!(
        lookup.submit_evidence(&query, &a, t0()),
        Err(LookupError::EvidenceMismatch("face check"))
    );
    let mut a = auth(&lookup, &query, t0());
    a.otp = Evidence::new(user(), other_query, t0(), true);
    assert_eq!(
        lookup.submit_evidence(&query, &a, t0()),
        Err(LookupError::EvidenceMismatch("sms code"))
    );
    let late = t0() + TimeDelta::minutes(5) + TimeDelta::seconds(1);
    assert_eq!(
        lookup.submit_evidence(&query, &auth(&lookup, &query, t0()), late),
        Err(LookupError::EvidenceStale("face check"))
    );
    // Exactly 5 minutes old is still fresh.
    assert!(
        lookup
            .submit_evidence(&query, &auth(&lookup, &query, t0()), t0() + TimeDelta::minutes(5))
            .is_ok()
    );
}

#[test]
fn rule_3_a_double_submit_returns_the_same_query() {
    let lookup = service();
    let a = application(&[Bank::Icbc, Bank::Boc]);
    let first = lookup.apply(&a, t0()).unwrap();
    assert_eq!(lookup.apply(&a, t0() + TimeDelta::seconds(3)).unwrap(), first);
    let events = lookup.submit_evidence(&first, &auth(&lookup, &first, t0()), t0()).unwrap();
    assert_eq!(events.len(), 2, "one dispatch per bank");
    assert!(lookup.submit_evidence(&first, &auth(&lookup, &first, t0()), t0()).unwrap().is_empty());
    let view = lookup.query(&first, &user()).unwrap();
    assert_eq!(view.state, QueryState::Accepted);
    assert!(view.banks.values().all(|s| *s == BankStatus::Pending));
}

#[test]
fn rule_3_each_kind_of_bank_answer() {
    let lookup = service();
    let banks: Vec<Arc<dyn LookupConnector>> = vec![
        icbc_with_cards(),
        Arc::new(SimulatedBank::new(Bank::Boc)),
        Arc::new(SimulatedBank::new(Bank::Cmb).behaving(Behaviour::NotSupported)),
        Arc::new(SimulatedBank::new(Bank::Cib).behaving(Behaviour::FailsTerminally)),
    ];
    let (query, _, events) = run(&lookup, banks, t0());
    assert_eq!(events.len(), 1);
    let view = lookup.query(&query, &user()).unwrap();
    assert_eq!(view.banks[&Bank::Icbc], BankStatus::CardsFound(2));
    assert_eq!(view.banks[&Bank::Boc], BankStatus::NoneFound);
    assert_eq!(view.banks[&Bank::Cmb], BankStatus::NotCovered);
    assert_eq!(view.banks[&Bank::Cib], BankStatus::Failed);
}

#[test]
fn rule_3_retries_are_bounded() {
    let lookup = service();
    let banks: Vec<Arc<dyn LookupConnector>> = vec![
        Arc::new(SimulatedBank::new(Bank::Icbc).failing_first(3)),
        Arc::new(SimulatedBank::new(Bank::Boc).failing_first(4)),
    ];
    let (query, _, _) = run(&lookup, banks, t0());
    let view = lookup.query(&query, &user()).unwrap();
    assert_eq!(view.banks[&Bank::Icbc], BankStatus::NoneFound, "3 retries after the first try");
    assert_eq!(view.banks[&Bank::Boc], BankStatus::Failed);
    let dispatches = lookup
        .audit_trail(&query)
        .unwrap()
        .iter()
        .filter(|e| matches!(e.event, AuditEvent::Dispatched { bank: Bank::Boc, .. }))
        .count();
    assert_eq!(dispatches, 4);
}

#[test]
fn rule_4_the_report_comes_when_every_bank_has_answered() {
    let lookup = service();
    let banks: Vec<Arc<dyn LookupConnector>> = vec![
        icbc_with_cards(),
        Arc::new(SimulatedBank::new(Bank::Boc).with_latency(TimeDelta::hours(2))),
    ];
    let (query, dispatcher, events) = run(&lookup, banks, t0());
    assert!(events.is_empty());
    assert_eq!(lookup.query(&query, &user()).unwrap().state, QueryState::Accepted);
    let events = dispatcher.pump(&lookup, t0() + TimeDelta::hours(2)).unwrap();
    assert_eq!(events, vec![LookupEvent::ReportReady { query: query.clone(), user: user() }]);
    assert_eq!(
        lookup.query(&query, &user()).unwrap().generated_at,
        Some(t0() + TimeDelta::hours(2))
    );
}

#[test]
fn rule_4_at_24_hours_silent_banks_are_marked_and_the_user_is_told() {
    let lookup = service();
    let banks: Vec<Arc<dyn LookupConnector>> = vec![
        icbc_with_cards(),
        Arc::new(SimulatedBank::new(Bank::Boc).behaving(Behaviour::Silent)),
    ];
    let (query, dispatcher, _) = run(&lookup, banks, t0());
    let deadline = t0() + TimeDelta::hours(24);
    assert!(dispatcher.pump(&lookup, deadline - TimeDelta::seconds(1)).unwrap().is_empty());
    let events = dispatcher.pump(&lookup, deadline).unwrap();
    assert_eq!(events, vec![LookupEvent::ReportReady { query: query.clone(), user: user() }]);
    let report =
        lookup.view_evidence(&query, &user(), &password(&query, deadline), deadline).unwrap();
    assert_eq!(report.bank_status[&Bank::Boc], BankStatus::NoAnswer);
    assert!(lookup.audit_trail(&query).unwrap().iter().any(|e| e.event == AuditEvent::Notified));
    // A late answer changes nothing.
    assert!(
        lookup
            .record_answer(&query, Bank::Boc, BankAnswer::NoneFound, deadline)
            .unwrap()
            .is_empty()
    );
}

fn generated(lookup: &LookupService, at: DateTime<Utc>) -> QueryId {
    let banks: Vec<Arc<dyn LookupConnector>> = vec![
        icbc_with_cards(),
        Arc::new(SimulatedBank::new(Bank::Boc)),
        Arc::new(SimulatedBank::new(Bank::Cmb).behaving(Behaviour::NotSupported)),
        Arc::new(
            SimulatedBank::new(Bank::Ccb)
                .with_card(&holder(), card("6217001234567890122", CardKind::Credit, None))
                .with_card(&holder(), card("6212345678900000003", CardKind::Prepaid, None)),
        ),
    ];
    run(lookup, banks, at).0
}

#[test]
fn rule_5_viewing_needs_the_payment_password_every_time() {
    let lookup = service();
    let query = generated(&lookup, t0());
    assert!(lookup.view_evidence(&query, &user(), &password(&query, t0()), t0()).is_ok());
    let later = t0() + TimeDelta::minutes(6);
    assert_eq!(
        lookup.view_evidence(&query, &user(), &password(&query, t0()), later),
        Err(LookupError::EvidenceStale("payment password"))
    );
    let mut failed = password(&query, later);
    failed.passed = false;
    assert_eq!(
        lookup.view_evidence(&query, &user(), &failed, later),
        Err(LookupError::VerificationFailed("payment password"))
    );
    assert!(lookup.view_evidence(&query, &user(), &password(&query, later), later).is_ok());
    let trail = lookup.audit_trail(&query).unwrap();
    assert_eq!(trail.iter().filter(|e| e.event == AuditEvent::Viewed).count(), 2);
    assert_eq!(
        trail.iter().filter(|e| matches!(e.event, AuditEvent::ViewRefused { .. })).count(),
        2
    );
}

#[test]
fn rule_5_only_the_owner_may_view() {
    let lookup = service();
    let query = generated(&lookup, t0());
    let stranger: UserId = "usr_stranger".parse().unwrap();
    let evidence = Evidence::new(stranger.clone(), query.clone(), t0(), true);
    assert_eq!(
        lookup.view_evidence(&query, &stranger, &evidence, t0()),
        Err(LookupError::NotOwner)
    );
    assert_eq!(lookup.query(&query, &stranger), Err(LookupError::NotOwner));
    assert!(
        lookup
            .audit_trail(&query)
            .unwrap()
            .iter()
            .any(|e| e.actor == stranger && matches!(e.event, AuditEvent::ViewRefused { .. }))
    );
}

#[test]
fn rule_5_summary_counts_debit_and_credit_apart() {
    let lookup = service();
    let query = generated(&lookup, t0());
    let report = lookup.view_evidence(&query, &user(), &password(&query, t0()), t0()).unwrap();
    let icbc = report.summary[&Bank::Icbc];
    assert_eq!((icbc.debit, icbc.credit, icbc.prepaid), (1, 1, 0), "quasi-credit counts as credit");
    let ccb = report.summary[&Bank::Ccb];
    assert_eq!((ccb.debit, ccb.credit, ccb.prepaid), (0, 1, 1), "prepaid listed apart");
    assert_eq!(report.summary[&Bank::Boc].total(), 0);
    assert!(!report.summary.contains_key(&Bank::Cmb), "not covered is not a zero count");
    assert_eq!((report.totals.debit, report.totals.credit, report.totals.prepaid), (1, 2, 1));
}

#[test]
fn rule_5_details_show_first_4_and_last_4_and_flag_dormant_cards() {
    let lookup = service();
    let query = generated(&lookup, t0());
    let report = lookup.view_evidence(&query, &user(), &password(&query, t0()), t0()).unwrap();
    let icbc: Vec<&crate::ReportCard> =
        report.details.iter().filter(|c| c.bank == Bank::Icbc).collect();
    assert_eq!(icbc[0].masked_number, "6222 **** **** *** 0128");
    assert_eq!(icbc[0].bank_name, "中国工商银行");
    assert_eq!(
        (icbc[0].kind, icbc[0].dormant, icbc[0].advice.as_deref()),
        (ReportKind::Debit, false, None)
    );
    assert_eq!((icbc[1].kind, icbc[1].dormant), (ReportKind::Credit, true));
    let chinese = Messages::default();
    assert_eq!(icbc[1].advice, Some(chinese.text(&Message::DormantAdvice)));
    assert!(icbc[1].advice.as_deref().is_some_and(|a| a.contains("销户")), "Chinese by default");
    assert_eq!(report.note, chinese.text(&Message::MissingCardsNote));
}

#[test]
fn rule_5_notes_and_advice_in_the_service_language() {
    let english = Messages::new(Language::English, "Wallet");
    let lookup = service().with_messages(english.clone());
    let query = generated(&lookup, t0());
    let report = lookup.view_evidence(&query, &user(), &password(&query, t0()), t0()).unwrap();
    assert_eq!(report.note, english.text(&Message::MissingCardsNote));
    let dormant = report.details.iter().find(|c| c.dormant).unwrap();
    assert!(dormant.advice.as_deref().is_some_and(|a| a.contains("consider closing it")));
}

#[test]
fn rule_5_none_found_reads_differently_from_not_covered_and_no_answer() {
    let lookup = service();
    let query = generated(&lookup, t0());
    let report = lookup.view_evidence(&query, &user(), &password(&query, t0()), t0()).unwrap();
    assert_eq!(report.bank_status[&Bank::Boc], BankStatus::NoneFound);
    assert_eq!(report.bank_status[&Bank::Cmb], BankStatus::NotCovered);
}

#[test]
fn rule_6_kept_seven_natural_days_to_the_second() {
    let lookup = service();
    // 23:59:59 Beijing on 1 December: day 1 ends one second later, so the content goes at the
    // midnight starting 8 December.
    let late = Utc.with_ymd_and_hms(2026, 12, 1, 15, 59, 59).unwrap();
    assert_eq!(lookup.expiry_for(late), Utc.with_ymd_and_hms(2026, 12, 7, 16, 0, 0).unwrap());
    // 00:00:00 Beijing on 2 December: a full extra day.
    let midnight = Utc.with_ymd_and_hms(2026, 12, 1, 16, 0, 0).unwrap();
    assert_eq!(lookup.expiry_for(midnight), Utc.with_ymd_and_hms(2026, 12, 8, 16, 0, 0).unwrap());

    let query = generated(&lookup, late);
    let expires = lookup.query(&query, &user()).unwrap().expires_at.unwrap();
    let just_before = expires - TimeDelta::seconds(1);
    assert_eq!(lookup.purge_expired(just_before).unwrap(), 0);
    assert!(
        lookup.view_evidence(&query, &user(), &password(&query, just_before), just_before).is_ok()
    );
    assert_eq!(lookup.purge_expired(expires).unwrap(), 1);
    assert_eq!(
        lookup.view_evidence(&query, &user(), &password(&query, expires), expires),
        Err(LookupError::ReportExpired)
    );
}

#[test]
fn rule_6_content_and_key_are_destroyed_and_the_record_reads_expired() {
    let lookup = service();
    let query = generated(&lookup, t0());
    assert!(
        lookup.store().key(&query).unwrap().is_some()
            && lookup.store().sealed(&query).unwrap().is_some()
    );
    let expires = lookup.query(&query, &user()).unwrap().expires_at.unwrap();
    lookup.purge_expired(expires).unwrap();
    assert!(lookup.store().key(&query).unwrap().is_none());
    assert!(lookup.store().sealed(&query).unwrap().is_none());
    assert_eq!(lookup.query(&query, &user()).unwrap().state, QueryState::Expired);
    assert!(lookup.audit_trail(&query).unwrap().iter().any(|e| e.event == AuditEvent::Deleted));
}

#[test]
fn rule_6_the_operator_never_keeps_card_data() {
    let lookup = service();
    let query = generated(&lookup, t0());
    let record = format!("{:?}", lookup.store().get(&query).unwrap().unwrap());
    let entries = lookup.audit_trail(&query).unwrap();
    let mut trail = serde_json::to_string(&entries).unwrap();
    // Ids are random hex, which may hold any four digits by chance: they are not card data.
    for entry in &entries {
        trail =
            trail.replace(entry.query.as_str(), "<query>").replace(entry.actor.as_str(), "<actor>");
    }
    let sealed = lookup.store().sealed(&query).unwrap().unwrap().ciphertext;
    for pan in ["6222021234567890128", "6200000000000005", "6217001234567890122"] {
        assert!(!record.contains(pan) && !trail.contains(pan), "{pan}");
        assert!(!trail.contains(&pan[..4]), "the audit trail holds no card data at all");
        assert!(!sealed.windows(pan.len()).any(|w| w == pan.as_bytes()), "content is encrypted");
    }
}

#[test]
fn rule_7_a_new_query_waits_seven_times_24_hours() {
    let lookup = service();
    let query = generated(&lookup, t0());
    let generated_at = lookup.query(&query, &user()).unwrap().generated_at.unwrap();
    let earliest = generated_at + TimeDelta::days(7);
    let too_soon = earliest - TimeDelta::seconds(1);
    assert_eq!(
        lookup.apply(&application(&[Bank::Icbc]), too_soon),
        Err(LookupError::RequeryTooSoon { earliest })
    );
    let msg = LookupError::RequeryTooSoon { earliest }.to_string();
    assert!(msg.contains("2026-11-30"), "{msg}");
    assert!(lookup.apply(&application(&[Bank::Icbc]), earliest).is_ok());
}

fn pan_from(seed: u64, len: usize) -> Pan {
    let mut digits: String = format!("62{seed:020}").chars().take(len - 1).collect();
    digits.push(char::from(luhn_check_digit(digits.as_bytes()).unwrap()));
    digits.parse().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn summary_equals_the_details_and_no_detail_shows_more_than_4_and_4(
        cards in prop::collection::vec((0usize..4, any::<u64>(), 13usize..=19, 0usize..4, any::<bool>()), 0..30)
    ) {
        let banks = [Bank::Icbc, Bank::Abc, Bank::Boc, Bank::Ccb];
        let kinds = [CardKind::Debit, CardKind::Credit, CardKind::QuasiCredit, CardKind::Prepaid];
        let mut sims: Vec<SimulatedBank> = banks.iter().map(|b| SimulatedBank::new(*b)).collect();
        let mut pans = Vec::new();
        for (bank, seed, len, kind, dormant) in cards {
            let pan = pan_from(seed, len);
            pans.push(pan.expose_digits().to_owned());
            let usage = dormant.then_some(UsageStatus::Dormant);
            sims[bank] = sims[bank].clone().with_card(&holder(), FoundCard { pan, kind: kinds[kind], usage });
        }
        let lookup = service();
        let connectors: Vec<Arc<dyn LookupConnector>> = sims.into_iter().map(|s| Arc::new(s) as Arc<dyn LookupConnector>).collect();
        let (query, _, _) = run(&lookup, connectors, t0());
        let report = lookup.view_evidence(&query, &user(), &password(&query, t0()), t0()).unwrap();
        let total: u32 = report.summary.values().map(|c| c.total()).sum();
        prop_assert_eq!(total as usize, report.details.len());
        prop_assert_eq!(report.totals.total() as usize, report.details.len());
        for bank in banks {
            let listed = report.details.iter().filter(|c| c.bank == bank).count() as u32;
            prop_assert_eq!(report.summary.get(&bank).map_or(0, |c| c.total()), listed);
        }
        for detail in &report.details {
            let shown: String = detail.masked_number.chars().filter(char::is_ascii_digit).collect();
            prop_assert_eq!(shown.len(), 8);
            let matches_a_card = pans.iter().any(|p| shown == [&p[..4], &p[p.len() - 4..]].concat());
            prop_assert!(matches_a_card);
        }
    }
}

/// A store whose first write of sealed report content fails.
#[derive(Debug)]
struct FailFirstSeal {
    inner: cloudcard_core::MemoryKv,
    failed: std::sync::atomic::AtomicBool,
}

struct FailingTxn<'a> {
    inner: &'a mut dyn cloudcard_core::store::Txn,
    failed: &'a std::sync::atomic::AtomicBool,
}

impl cloudcard_core::store::Txn for FailingTxn<'_> {
    fn get(&mut self, t: &'static str, k: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(t, k)
    }
    fn put(&mut self, t: &'static str, k: &[u8], v: &[u8]) -> Result<(), StoreError> {
        if t == "lookup_sealed" && !self.failed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return Err(StoreError::Conflict);
        }
        self.inner.put(t, k, v)
    }
    fn delete(&mut self, t: &'static str, k: &[u8]) -> Result<bool, StoreError> {
        self.inner.delete(t, k)
    }
    fn range(
        &mut self,
        t: &'static str,
        from: &[u8],
        to: &[u8],
        limit: usize,
    ) -> Result<Vec<cloudcard_core::store::Entry>, StoreError> {
        self.inner.range(t, from, to, limit)
    }
}

impl cloudcard_core::Kv for FailFirstSeal {
    fn read(&self, body: &mut cloudcard_core::store::TxnFn<'_>) -> Result<(), StoreError> {
        self.inner.read(body)
    }
    fn write(&self, body: &mut cloudcard_core::store::TxnFn<'_>) -> Result<(), StoreError> {
        let failed = &self.failed;
        self.inner.write(&mut |txn| body(&mut FailingTxn { inner: txn, failed }))
    }
}

#[test]
fn rule_4_one_report_failing_at_the_deadline_holds_up_no_other() {
    let store = crate::store::KvLookupStore::new_in(FailFirstSeal {
        inner: cloudcard_core::MemoryKv::new(),
        failed: std::sync::atomic::AtomicBool::new(false),
    });
    let lookup = LookupService::new(LookupConfig::default(), store);
    let silent: Arc<dyn LookupConnector> =
        Arc::new(SimulatedBank::new(Bank::Icbc).behaving(Behaviour::Silent));
    let dispatcher = Dispatcher::new(vec![silent], directory());
    let mut queries = Vec::new();
    for (i, who) in ["usr_first", "usr_second"].into_iter().enumerate() {
        let who: UserId = who.parse().unwrap();
        let at = t0() + TimeDelta::seconds(i64::try_from(i).unwrap());
        let mut app = application(&[Bank::Icbc]);
        app.applicant.user = who.clone();
        let query = lookup.apply(&app, at).unwrap();
        let authz = Authorization {
            agreement_version: lookup.config().agreement_version.clone(),
            face: Evidence::new(who.clone(), query.clone(), at, true),
            otp: Evidence::new(who.clone(), query.clone(), at, true),
        };
        dispatcher.send(&lookup, lookup.submit_evidence(&query, &authz, at).unwrap(), at).unwrap();
        queries.push((who, query));
    }
    let deadline = t0() + TimeDelta::hours(25);
    let first = lookup.tick(deadline).unwrap();
    assert_eq!(first.len(), 1, "one report generated, the other put back");
    let second = lookup.tick(deadline).unwrap();
    assert_eq!(second.len(), 1, "the one put back is generated on the next pass");
    for (who, q) in &queries {
        assert_eq!(lookup.query(q, who).unwrap().state, QueryState::Generated);
    }
}

/// A bank that records the questions it is asked and answers none found.
#[derive(Debug, Default)]
struct Recording(std::sync::Mutex<Vec<BankQuery>>);

impl LookupConnector for Recording {
    fn bank(&self) -> Bank {
        Bank::Icbc
    }
    fn ask(&self, query: &BankQuery) -> Reply {
        self.0.lock().unwrap().push(query.clone());
        Reply::Answer { after: TimeDelta::zero(), answer: BankAnswer::NoneFound }
    }
}

#[test]
fn banks_are_asked_by_identity_document_and_never_for_someone_unknown() {
    let lookup = service();
    let bank = Arc::new(Recording::default());
    let query = lookup.apply(&application(&[Bank::Icbc]), t0()).unwrap();
    let events = lookup.submit_evidence(&query, &auth(&lookup, &query, t0()), t0()).unwrap();
    Dispatcher::new(vec![bank.clone()], directory()).send(&lookup, events.clone(), t0()).unwrap();
    let asked = bank.0.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].document, holder());
    assert_eq!(asked[0].document.kind.to_string(), "resident identity card");
    assert!(!format!("{:?}", asked[0]).contains("110102199101010078"), "the number prints masked");

    // A directory that does not know the applicant: no bank hears of them.
    let unknown = Arc::new(Recording::default());
    Dispatcher::new(vec![unknown.clone()], Arc::new(IdentityBook::new()))
        .send(&lookup, events, t0())
        .unwrap();
    assert!(unknown.0.lock().unwrap().is_empty());
}
