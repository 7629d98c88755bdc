//! The outbox's rules without a network: which decisions tell the
//! merchant what, the idempotency keys, the waits between attempts, what
//! an answer means, and the configuration. Its deliveries against real
//! receivers are in `tests/outbox.rs`.

use posfield_shared::visit::schema::{Identification, SimRecord};
use posfield_shared::visit::{Ctx, MerchantInput, Visit, VisitDoc};
use posfield_shared::vocab::{ApplicationState, IdentificationMethod, SimAction, SimCarrier};
use posfield_shared::{Actor, CalendarDate, Timestamp, VisitKind, VisitStatus};
use reqwest::StatusCode;
use rstest::rstest;

use super::*;
use crate::config::{Config, OutboxSender};

const ID: &str = "0190a000-0000-7000-8000-000000000001";

/// A visit of `kind` for a merchant with `phone`, as the document makes it.
fn visit(kind: VisitKind, phone: Option<&str>) -> Visit {
    let ctx = Ctx::new(Actor::admin("zhou", "back-office"), Timestamp(1_795_000_000_000), "op-1");
    let merchant = MerchantInput {
        name: "张姐水果店".into(),
        merchant_number: None,
        terminal_number: None,
        phone: phone.map(str::to_owned),
        address: None,
        location: None,
    };
    let mut visit =
        VisitDoc::create_visit(&ctx, b"server", ID, kind, &merchant, "wang").unwrap().visit().unwrap();
    visit.terminal = Some(Identification {
        serial: "N910000000001".into(),
        method: IdentificationMethod::Manual.into(),
        evidence: None,
        stamp: visit.created.clone(),
        model: None,
        manufacturer: None,
        production_date: None,
    });
    visit
}

fn approved(kind: VisitKind) -> Visit {
    let mut visit = visit(kind, Some("13812345678"));
    visit.status = VisitStatus::Approved;
    visit
}

/// A reactivation visit whose application is in `state`.
fn application(state: ApplicationState, reason: Option<&str>) -> Visit {
    let mut visit = visit(VisitKind::Reactivation, Some("13812345678"));
    let ctx = Ctx::new(Actor::agent("wang", "phone-a"), Timestamp(1_795_000_001_000), "op-2");
    let mut doc = VisitDoc::create_visit(
        &ctx,
        b"phone-a",
        ID,
        VisitKind::Reactivation,
        &MerchantInput {
            name: visit.merchant.name.clone(),
            merchant_number: None,
            terminal_number: None,
            phone: visit.merchant.phone.clone(),
            address: None,
            location: None,
        },
        "wang",
    )
    .unwrap();
    let submitted = doc.submit_application(&ctx).unwrap();
    visit.reactivation = submitted.reactivation;
    if let Some(application) = visit.reactivation.application.as_mut() {
        application.state = state.into();
        application.reason = reason.map(str::to_owned);
    }
    visit
}

fn events(messages: &[OutboxMessage]) -> Vec<&str> {
    messages.iter().map(|m| m.event.as_str()).collect()
}

#[rstest]
#[case::deregistration_approved(approved(VisitKind::Deregistration), &["deregistration_done"])]
#[case::sim_renewal_approved(approved(VisitKind::SimRenewal), &["sim_renewed"])]
#[case::deregistration_returned(visit(VisitKind::Deregistration, Some("13812345678")), &[])]
#[case::repair_approved(approved(VisitKind::Repair), &[])]
#[case::installation_approved(approved(VisitKind::Installation), &[])]
#[case::reactivation_approved(approved(VisitKind::Reactivation), &[])]
fn an_approved_deregistration_or_sim_renewal_tells_the_merchant(#[case] visit: Visit, #[case] told: &[&str]) {
    assert_eq!(events(&messages_for_review(&visit)), told);
}

#[rstest]
#[case::approved(ApplicationState::Approved, None, &["application_approved"])]
#[case::rejected(ApplicationState::Rejected, Some("材料不全"), &["application_rejected"])]
#[case::submitted(ApplicationState::Submitted, None, &[])]
#[case::terminal_issued(ApplicationState::TerminalIssued, None, &[])]
fn a_decided_application_tells_the_merchant(
    #[case] state: ApplicationState,
    #[case] reason: Option<&str>,
    #[case] told: &[&str],
) {
    assert_eq!(events(&messages_for_application(&application(state, reason))), told);
}

#[test]
fn a_message_carries_the_merchant_the_phone_and_what_it_says() {
    let rejected =
        messages_for_application(&application(ApplicationState::Rejected, Some("材料不全"))).remove(0);
    assert_eq!(rejected.key, format!("{ID}/application_rejected"));
    assert_eq!(rejected.recipient.as_deref(), Some("13812345678"));
    assert_eq!(
        text_zh(&rejected),
        "尊敬的张姐水果店：您的POS机复机申请未通过，原因：材料不全。如有疑问请联系客服。"
    );

    let mut renewal = approved(VisitKind::SimRenewal);
    renewal.sim = Some(SimRecord {
        iccid: "89860012345678901234".into(),
        carrier: SimCarrier::ChinaMobile.into(),
        expiry: CalendarDate::parse("2025-06-30").unwrap(),
        action: Some(SimAction::Renewed.into()),
        new_iccid: None,
        new_expiry: Some(CalendarDate::parse("2026-06-30").unwrap()),
        stamp: renewal.created.clone(),
    });
    let told = messages_for_review(&renewal).remove(0);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&told.payload).unwrap(),
        serde_json::json!({
            "merchant": "张姐水果店", "serial": "N910000000001", "action": "续费", "expiry": "2026-06-30",
        })
    );
    assert_eq!(text_zh(&told), "尊敬的张姐水果店：您的POS机流量卡已处理（续费），有效期至2026-06-30。");

    let back = repair_back(ID, "N910000000001", "张姐水果店", Some(" 13812345678 "));
    assert_eq!(
        (back.key.as_str(), back.recipient.as_deref()),
        (&*format!("{ID}/repair_back"), Some("13812345678"))
    );
    assert_eq!(
        text_zh(&back),
        "尊敬的张姐水果店：您送修的POS机（机身号N910000000001）已修复返回，业务员将与您联系安装。"
    );
    assert_eq!(repair_back(ID, "N9", "张姐水果店", Some("")).recipient, None, "an empty phone is no phone");
}

#[test]
fn the_key_is_the_same_for_every_telling_of_one_event_and_differs_between_events() {
    let once = messages_for_review(&approved(VisitKind::Deregistration));
    let again = messages_for_review(&approved(VisitKind::Deregistration));
    assert_eq!(once, again, "a re-approval or re-projection makes the same message");
    let keys: std::collections::BTreeSet<String> =
        Event::ALL.iter().map(|e| idempotency_key(ID, *e)).collect();
    assert_eq!(keys.len(), Event::ALL.len());
    assert_ne!(
        idempotency_key(ID, Event::SimRenewed),
        idempotency_key("0190a000-0000-7000-8000-000000000002", Event::SimRenewed)
    );
    for event in Event::ALL {
        assert_eq!(Event::from_code(event.code()), Some(event));
        assert!(!event.template_zh().is_empty() && !event.zh().is_empty() && !event.en().is_empty());
    }
}

#[rstest]
#[case::first_failure(1, 30, 60)]
#[case::second_failure(2, 60, 120)]
#[case::fifth_failure(5, 480, 960)]
#[case::capped_at_six_hours(10, 10_800, 21_600)]
#[case::far_past_the_cap(40, 10_800, 21_600)]
fn the_wait_doubles_from_a_minute_to_six_hours_with_jitter(
    #[case] attempts: u32,
    #[case] least: i64,
    #[case] most: i64,
) {
    let policy = RetryPolicy::of(&crate::config::OutboxConfig::default());
    for jitter in [0.0, 0.25, 0.5, 1.0] {
        let delay = policy.delay(attempts, jitter);
        assert!((least..=most).contains(&delay), "attempt {attempts}, jitter {jitter}: {delay}");
    }
    assert_eq!(policy.delay(attempts, 0.0), least);
    assert_eq!(policy.delay(attempts, 1.0), most);
}

#[test]
fn a_failure_is_tried_again_until_the_last_attempt_and_a_refusal_never() {
    let policy = RetryPolicy { first_secs: 60, max_secs: 21_600, max_attempts: 3, lease_secs: 90 };
    let transient = || SendError::Transient("503".into());
    assert!(matches!(policy.outcome(transient(), 1, 1000, 0.0), DeliveryOutcome::Retry { at: 1030, .. }));
    assert!(matches!(policy.outcome(transient(), 2, 1000, 1.0), DeliveryOutcome::Retry { at: 1120, .. }));
    assert!(matches!(policy.outcome(transient(), 3, 1000, 0.0), DeliveryOutcome::Failed { .. }));
    let refused = policy.outcome(SendError::Permanent("400".into()), 1, 1000, 0.0);
    assert_eq!(refused, DeliveryOutcome::Failed { error: "400".into() });
}

/// (status, body, an SMS gateway's answer, delivered / tried again / refused)
#[rstest]
#[case::ok(200, "", false, "delivered")]
#[case::created(201, "{}", false, "delivered")]
#[case::gateway_ok(200, r#"{"Code":"OK","BizId":"9"}"#, true, "delivered")]
#[case::gateway_without_code(200, "accepted", true, "delivered")]
#[case::gateway_flow_control(200, r#"{"Code":"isv.BUSINESS_LIMIT_CONTROL"}"#, true, "again")]
#[case::gateway_throttled(200, r#"{"Code":"Throttling.User"}"#, true, "again")]
#[case::gateway_system_error(200, r#"{"Code":"isp.SYSTEM_ERROR"}"#, true, "again")]
#[case::gateway_bad_number(200, r#"{"Code":"isv.MOBILE_NUMBER_ILLEGAL"}"#, true, "refused")]
#[case::gateway_bad_template(200, r#"{"Code":"isv.SMS_TEMPLATE_ILLEGAL"}"#, true, "refused")]
#[case::webhook_ignores_a_code(200, r#"{"Code":"isv.MOBILE_NUMBER_ILLEGAL"}"#, false, "delivered")]
#[case::bad_request(400, "", false, "refused")]
#[case::unauthorised(401, "", true, "refused")]
#[case::not_found(404, "", false, "refused")]
#[case::timeout(408, "", false, "again")]
#[case::too_early(425, "", false, "again")]
#[case::too_many(429, "", true, "again")]
#[case::internal(500, "", false, "again")]
#[case::bad_gateway(502, "", true, "again")]
#[case::unavailable(503, "", false, "again")]
fn an_answer_is_delivered_tried_again_or_refused_for_good(
    #[case] status: u16,
    #[case] body: &str,
    #[case] sms: bool,
    #[case] expected: &str,
) {
    let got = match classify(StatusCode::from_u16(status).unwrap(), body, sms) {
        Ok(()) => "delivered",
        Err(SendError::Transient(_)) => "again",
        Err(SendError::Permanent(_)) => "refused",
    };
    assert_eq!(got, expected);
}

fn config(text: &str) -> anyhow::Result<Config> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("posfield.toml");
    std::fs::write(&path, text).unwrap();
    Config::from_file(Some(&path))
}

const TEMPLATES: &str = "templates = { application_approved = \"SMS_1\", application_rejected = \"SMS_2\", \
     deregistration_done = \"SMS_3\", sim_renewed = \"SMS_4\", repair_back = \"SMS_5\" }\n";

#[test]
fn the_outbox_keeps_messages_unless_a_sender_is_configured_whole() {
    assert_eq!(Config::default().outbox.sender, OutboxSender::Keep);
    let sms = config(&format!(
        "[outbox]\nsender = \"sms\"\nmax_attempts = 0\n[outbox.sms]\nurl = \"https://sms.example.cn/send\"\n\
         sign_name = \"银联商务\"\naccess_key = \"ak-secret-1234\"\n{TEMPLATES}"
    ))
    .unwrap();
    let OutboxSender::Sms(gateway) = &sms.outbox.sender else { panic!("{:?}", sms.outbox.sender) };
    assert_eq!(gateway.templates["sim_renewed"], "SMS_4");
    assert_eq!(gateway.access_key_header, "X-Access-Key");
    assert_eq!(gateway.access_key.as_ref().map(|k| k.expose()), Some("ak-secret-1234"));
    assert_eq!(sms.outbox.max_attempts, 1, "at least one attempt");
    let shown = format!("{sms:?}");
    assert!(!shown.contains("ak-secret-1234") && shown.contains("***"), "the key is not shown: {shown}");

    let webhook = config("[outbox]\nsender = \"webhook\"\n[outbox.webhook]\nurl = \"http://127.0.0.1:9000/events\"\nbearer_token = \"tok-9\"\n").unwrap();
    assert!(matches!(webhook.outbox.sender, OutboxSender::Webhook(_)));
    assert!(!format!("{webhook:?}").contains("tok-9"));

    let without_sign =
        format!("[outbox]\nsender = \"sms\"\n[outbox.sms]\nurl = \"https://s.cn/\"\n{TEMPLATES}");
    // (the file, what the error names)
    let refused = [
        ("[outbox]\nsender = \"pigeon\"\n", "pigeon"),
        ("[outbox]\nsender = \"sms\"\n", "[outbox.sms]"),
        ("[outbox]\nsender = \"webhook\"\n[outbox.webhook]\n", "url"),
        ("[outbox]\nsender = \"webhook\"\n[outbox.webhook]\nurl = \"ftp://x/y\"\n", "ftp://x/y"),
        (
            "[outbox]\nsender = \"sms\"\n[outbox.sms]\nurl = \"https://s.cn/\"\nsign_name = \"银联商务\"\n\
             templates = { sim_renewed = \"SMS_4\" }\n",
            "application_approved",
        ),
        (without_sign.as_str(), "sign_name"),
        ("[outbox]\nsendr = \"sms\"\n", "sendr"),
    ];
    for (text, named) in refused {
        let error = config(text).unwrap_err().to_string();
        assert!(error.contains(named), "{text:?}: {error}");
    }
}
