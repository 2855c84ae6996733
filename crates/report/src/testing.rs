//! The conformance suite every [`LookupStore`] backend must pass. Behind the `testing`
//! feature; its checks panic on failure, as tests do.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test suite: a failed check panics"
)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use cloudcard_core::store::testing::race;
use cloudcard_core::{Bank, QueryId, UserId};
use cloudcard_masking::Secret;

use crate::model::{ReportCard, ReportKind};
use crate::store::{
    AuditEntry, AuditEvent, LookupStore, QueryRecord, QueryState, Queue, SealedReport,
};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 2, 0, 0).unwrap()
}

fn query(user: &UserId, request: &str) -> QueryRecord {
    QueryRecord {
        id: QueryId::random(),
        user: user.clone(),
        request: request.parse().unwrap(),
        banks: BTreeSet::from([Bank::Icbc]),
        state: QueryState::Draft,
        created_at: t0(),
        agreement_version: None,
        accepted_at: None,
        generated_at: None,
        expires_at: None,
        bank_entries: BTreeMap::new(),
    }
}

fn found() -> ReportCard {
    ReportCard {
        bank: Bank::Icbc,
        bank_name: "中国工商银行".into(),
        kind: ReportKind::Debit,
        masked_number: "6222 **** **** *** 0128".into(),
        usage: None,
        dormant: false,
        advice: None,
    }
}

/// Runs the whole suite; `make` returns a fresh, empty store each call.
pub fn lookup_store_suite(make: &dyn Fn() -> Arc<dyn LookupStore>) {
    records(&*make());
    content_and_keys(&*make());
    due_items_go_to_one_taker(make());
    audit_in_order(&*make());
    leases_go_to_one_holder(make());
    held_answers_go_to_one_taker(make());
}

fn leases_go_to_one_holder(s: Arc<dyn LookupStore>) {
    let until = t0() + TimeDelta::seconds(30);
    let store = s.clone();
    let won = race(8, move |_| store.try_lease("query/q1", t0(), until).unwrap());
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "one holder at a time");
    assert!(s.try_lease("query/q2", t0(), until).unwrap(), "leases are per name");
    assert!(!s.try_lease("query/q1", until - TimeDelta::seconds(1), until).unwrap());
    assert!(s.try_lease("query/q1", until, until + TimeDelta::seconds(30)).unwrap(), "lapsed");
    s.release_lease("query/q1").unwrap();
    assert!(s.try_lease("query/q1", t0(), until).unwrap(), "given back");
}

fn held_answers_go_to_one_taker(s: Arc<dyn LookupStore>) {
    use crate::model::{HeldAnswer, PendingAnswer};
    let q = QueryId::random();
    for i in 0..20 {
        let answer = PendingAnswer {
            query: q.clone(),
            bank: if i % 2 == 0 { Bank::Icbc } else { Bank::Cmb },
            answer: HeldAnswer::NoneFound,
        };
        s.hold_answer(t0() + TimeDelta::minutes(i), &answer).unwrap();
    }
    let now = t0() + TimeDelta::minutes(9);
    let store = s.clone();
    let taken: usize =
        race(8, move |_| store.take_answers(now, 2).unwrap().len()).into_iter().sum();
    let more = s.take_answers(now, 100).unwrap().len();
    assert_eq!(taken + more, 10, "each answer due by now delivered once");
    assert_eq!(s.take_answers(t0() + TimeDelta::hours(1), 100).unwrap().len(), 10);
}

fn records(s: &dyn LookupStore) {
    let user = UserId::random();
    let mut q = query(&user, "req_1");
    s.put(&q).unwrap();
    assert_eq!(s.get(&q.id).unwrap(), Some(q.clone()));
    assert_eq!(s.by_request(&user, &"req_1".parse().unwrap()).unwrap(), Some(q.id.clone()));
    assert_eq!(s.by_request(&UserId::random(), &"req_1".parse().unwrap()).unwrap(), None);
    assert_eq!(s.open_query(&user).unwrap(), Some(q.id.clone()), "a draft is open");
    q.state = QueryState::Accepted;
    s.put(&q).unwrap();
    assert_eq!(s.get(&q.id).unwrap().unwrap().state, QueryState::Accepted);
    assert_eq!(s.open_query(&user).unwrap(), Some(q.id.clone()));
    q.state = QueryState::Generated;
    s.put(&q).unwrap();
    assert_eq!(s.open_query(&user).unwrap(), None, "a generated report closes the query");
    assert_eq!(s.last_generated(&user).unwrap(), None);
    s.set_last_generated(&user, t0()).unwrap();
    assert_eq!(s.last_generated(&user).unwrap(), Some(t0()));
}

fn content_and_keys(s: &dyn LookupStore) {
    let q = QueryId::random();
    s.add_found(&q, vec![found()]).unwrap();
    s.add_found(&q, vec![found(), found()]).unwrap();
    assert_eq!(s.found(&q).unwrap().len(), 3);
    let sealed = SealedReport { nonce: [1; 12], ciphertext: vec![2; 40] };
    s.put_sealed(&q, &sealed, &Secret::new([9; 32])).unwrap();
    assert!(s.found(&q).unwrap().is_empty(), "sealing drops the cards it now holds");
    assert_eq!(s.sealed(&q).unwrap(), Some(sealed));
    assert_eq!(s.key(&q).unwrap().unwrap().expose_secret(), &[9; 32]);
    s.destroy(&q).unwrap();
    assert!(s.key(&q).unwrap().is_none() && s.sealed(&q).unwrap().is_none());
}

fn due_items_go_to_one_taker(s: Arc<dyn LookupStore>) {
    let ids: Vec<QueryId> = (0..40).map(|_| QueryId::random()).collect();
    for (i, id) in ids.iter().enumerate() {
        let at = t0() + TimeDelta::minutes(i64::try_from(i).unwrap());
        s.schedule(Queue::Expiry, at, id).unwrap();
    }
    s.schedule(Queue::Deadline, t0(), &ids[0]).unwrap();
    let now = t0() + TimeDelta::minutes(29);
    let store = s.clone();
    let taken: Vec<QueryId> = race(8, move |_| store.take_due(Queue::Expiry, now, 3).unwrap())
        .into_iter()
        .flatten()
        .collect();
    let more = s.take_due(Queue::Expiry, now, 100).unwrap();
    let all: BTreeSet<QueryId> = taken.iter().chain(more.iter()).cloned().collect();
    assert_eq!(taken.len() + more.len(), 30, "each due item taken once");
    assert_eq!(all.len(), 30);
    assert!(
        all.iter().all(|id| ids[..30].contains(id)),
        "only what is due, up to and including now"
    );
    assert_eq!(
        s.take_due(Queue::Deadline, now, 100).unwrap(),
        vec![ids[0].clone()],
        "queues are apart"
    );
}

fn audit_in_order(s: &dyn LookupStore) {
    let q = QueryId::random();
    let actor = UserId::random();
    let events = [AuditEvent::Notified, AuditEvent::Viewed, AuditEvent::Deleted];
    for (i, event) in events.iter().enumerate() {
        let at = t0() + TimeDelta::seconds(i64::try_from(i).unwrap());
        s.audit(&AuditEntry { at, query: q.clone(), actor: actor.clone(), event: event.clone() })
            .unwrap();
    }
    let trail: Vec<AuditEvent> = s.audit_of(&q).unwrap().into_iter().map(|e| e.event).collect();
    assert_eq!(trail, events.to_vec());
    assert!(s.audit_of(&QueryId::random()).unwrap().is_empty());
}
