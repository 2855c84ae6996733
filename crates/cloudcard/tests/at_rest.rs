//! The whole journey on the SQLite file, then a scan of the raw database and WAL bytes for
//! every card number, CVN2, code, password, ID number, mobile and name used: none is there.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

mod support;

use chrono::TimeDelta;
use cloudcard::demo::{DEMO_PEOPLE, face_of};
use cloudcard::risk::ClaimEvent;
use cloudcard::wallet::{NotifyChannel, OtpPurpose, UnbindChannel, UnbindEvidence, UnbindReason};
use cloudcard::{PaymentOutcome, Secret, StepUp};
use support::{PANS, PASSWORD, World, approved};

fn grouped(pan: &str) -> String {
    pan.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ")
}

#[test]
fn nothing_personal_rests_in_clear_after_the_whole_journey() {
    let w = World::new("at-rest");
    let cc = w.open();
    let (user, phone) = w.register(&cc, 0);
    let mut icbc = w.bind(&cc, &user, &phone, PANS[0], 0);
    let cmb = w.bind(&cc, &user, &phone, PANS[1], 0);
    assert!(approved(&w.pay(&cc, &user, &phone, &mut icbc.device_card, 3_500)));
    if let Ok(PaymentOutcome::ChallengeRequired { challenge, .. }) =
        w.pay(&cc, &user, &phone, &mut icbc.device_card, 600_000)
    {
        let answer = StepUp::PaymentPassword { password: Secret::new(PASSWORD.into()) };
        let _ = cc.step_up(&user, &challenge, answer);
    }
    cc.danger().wallet().request_password_reset(&user).unwrap();
    let lost = cc.report_lost_card(&user, &cmb.card.id).unwrap();
    if let Some(claim) = lost.claim {
        cc.danger().risk().advance_claim(&claim.id, ClaimEvent::Assess).unwrap();
    }
    let prompt = cc.request_unbind(&user, &icbc.card.id).unwrap();
    cc.confirm_unbind(&user, &icbc.card.id, prompt.ticket.expose_secret()).unwrap();
    // A binding left pending holds a card number: sealed like everything else.
    cc.bind_card(&user, &phone, w.request(PANS[2], 0)).unwrap();

    let banks = cloudcard::Bank::NATIONAL.into_iter().collect();
    let query = cc
        .start_lookup(&user, cloudcard::Region::SHANGHAI, banks, "req_1".parse().unwrap())
        .unwrap();
    cc.send_lookup_code(&user).unwrap();
    let code = w.outbox.last_code(&w.mobile(0), OtpPurpose::CardLookup).unwrap();
    let id: cloudcard::ResidentId = DEMO_PEOPLE[0].1.parse().unwrap();
    let version = cc.danger().lookup().config().agreement_version.clone();
    cc.authorize_lookup(&user, &query, &version, &face_of(&id), &code).unwrap();
    w.clock.advance(TimeDelta::minutes(1));
    cc.process_lookups().unwrap();
    cc.view_report(&user, &query, &Secret::new(PASSWORD.into())).unwrap();

    let (terminal, m_mobile) = w.register_terminal(&cc, "term_SN1", 2);
    let case = cc
        .request_terminal_unbind(
            &terminal,
            UnbindReason::Security,
            UnbindChannel::Online,
            NotifyChannel::Sms,
        )
        .unwrap();
    let c = w.outbox.last_code(&m_mobile, OtpPurpose::TerminalUnbind).unwrap();
    cc.complete_terminal_unbind(&case.id, &UnbindEvidence::OnlineOtp { code: c.into() }).unwrap();

    // Every secret the journey used.
    let mut needles: Vec<String> = Vec::new();
    for pan in PANS {
        needles.push(pan.to_owned());
        needles.push(grouped(pan));
    }
    needles.push("\"738\"".to_owned()); // the CVN2, as any clear record would hold it
    needles.push(PASSWORD.to_owned());
    for (name, id, mobile) in DEMO_PEOPLE {
        needles.extend([name.to_owned(), id.to_owned(), mobile.to_owned()]);
    }
    for sms in w.outbox.messages() {
        if let Some(code) = sms.body.code() {
            needles.push(code.to_owned());
        }
    }
    assert!(needles.len() > 20);

    // Read the files while the service is still open (the WAL holds the latest writes), and
    // again after it closes.
    let scan = |when: &str| {
        let mut files = 0;
        for entry in std::fs::read_dir(&w.dir.0).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            files += 1;
            for needle in &needles {
                assert!(
                    !bytes.windows(needle.len()).any(|window| window == needle.as_bytes()),
                    "{when}: a secret rests in clear in {}",
                    path.display()
                );
            }
        }
        files
    };
    assert!(scan("open") >= 2, "the database and its WAL were scanned");
    drop(cc);
    scan("closed");
}
