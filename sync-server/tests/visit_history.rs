//! The visit page's history and concurrent edits, over a real server on
//! 127.0.0.1 signed in as each role: a registered phone corrected on two
//! phones at once shows the value kept and the value that lost, each
//! change shows its fields before and after, and the phone is masked in
//! both for a reviewer and whole for an administrator.

use base64::Engine as _;
use posfield_shared::visit::{Ctx, MerchantInput, StepState, VisitDoc};
use posfield_shared::{Actor, Timestamp, VisitKind};
use posfield_sync_server::auth::{self, UserRole};
use posfield_sync_server::config::Config;
use posfield_sync_server::store::AuditEntry;

const PASSWORD: &str = "correct horse battery";
const VISIT: &str = "0192a000-0000-7000-8000-000000000016";
const FIRST_PHONE: &str = "13812345678";
const LI_PHONE: &str = "13911112222";
const ZHAO_PHONE: &str = "13733334444";

/// A replacement visit started on Li's phone, its backup step done, and
/// the registered phone then corrected on Li's and Zhao's phones at once.
fn contested_visit() -> VisitDoc {
    let li = Actor::agent("li", "phone-li");
    let zhao = Actor::agent("zhao", "phone-zhao");
    let mut minute = 0;
    let mut ctx = |actor: &Actor| {
        minute += 1;
        Ctx::new(actor.clone(), Timestamp(1_795_000_000_000 + minute * 60_000), format!("op-{minute}"))
    };
    let merchant = MerchantInput {
        name: "老王便利店".into(),
        phone: Some(FIRST_PHONE.into()),
        ..MerchantInput::default()
    };
    let mut doc =
        VisitDoc::create_visit(&ctx(&li), b"phone-li-actor", VISIT, VisitKind::Replacement, &merchant, "li")
            .unwrap();
    doc.set_step(&ctx(&li), "backup", StepState::Done, None, None).unwrap();
    let mut other = doc.fork(b"phone-zhao-actor");
    doc.correct_merchant(&ctx(&li), &MerchantInput { phone: Some(LI_PHONE.into()), ..merchant.clone() })
        .unwrap();
    other
        .correct_merchant(&ctx(&zhao), &MerchantInput { phone: Some(ZHAO_PHONE.into()), ..merchant })
        .unwrap();
    doc.merge(&mut other).unwrap();
    doc
}

/// The visit page as `user` sees it.
async fn visit_page(client: &reqwest::Client, base: &str, user: &str) -> String {
    let signed_in = client
        .post(format!("{base}/office/login"))
        .form(&[("user", user), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status().as_u16(), 303, "{user} signed in");
    let cookie = signed_in.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let page =
        client.get(format!("{base}/office/visits/{VISIT}")).header("cookie", cookie).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    page.text().await.unwrap()
}

/// The section of `page` with `id`, up to its end.
fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let start =
        page.find(&format!("<section class=\"card\" id=\"{id}\">")).unwrap_or_else(|| panic!("#{id}"));
    let end = page[start..].find("</section>").unwrap() + start;
    &page[start..end]
}

/// The phone numbers each role reads in the page's two sections.
fn shown(page: &str, number: &str, masked: &str) -> (bool, bool) {
    let (concurrent, history) = (section(page, "concurrent"), section(page, "history"));
    let whole = concurrent.contains(number) || history.contains(number);
    let hidden = concurrent.contains(masked) || history.contains(masked);
    (whole, hidden)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_visit_page_shows_losing_values_and_each_change_before_and_after_masked_by_role() {
    let dir = tempfile::tempdir().unwrap();
    let config =
        Config { data: dir.path().join("data"), listen: "127.0.0.1:0".parse().unwrap(), ..Config::default() };
    let running = posfield_sync_server::start(config, false).await.unwrap();
    let store = running.state.store.as_ref();
    auth::add_user(store, "wang", UserRole::Reviewer, PASSWORD).await.unwrap();
    auth::add_user(store, "zhou", UserRole::Admin, PASSWORD).await.unwrap();
    let mut doc = contested_visit();
    let shown_phone = doc.visit().unwrap().merchant.phone.unwrap();
    let lost_phone = if shown_phone == LI_PHONE { ZHAO_PHONE } else { LI_PHONE };
    let audit = AuditEntry::new(Some(VISIT), "test", "create_visit", "replacement");
    posfield_sync_server::projection::office_create(&running.state, &mut doc, audit, None).await.unwrap();
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let base = format!("http://{}", running.addr);

    let reviewer = visit_page(&client, &base, "wang").await;
    let concurrent = section(&reviewer, "concurrent");
    assert!(concurrent.contains("并发修改"), "{concurrent}");
    assert!(concurrent.contains("<td>注册手机号</td>"), "{concurrent}");
    let mask = |phone: &str| format!("{}****{}", &phone[..3], &phone[7..]);
    let winner = format!("<span class=\"mono winner\">{}</span>", mask(&shown_phone));
    let loser = format!("<span class=\"mono loser\">{}</span>", mask(lost_phone));
    assert!(concurrent.contains(&winner) && concurrent.contains(&loser), "{concurrent}");
    // Each value with who wrote it: the operation and the agent of its history entry.
    assert!(
        concurrent.contains("更正商户信息 · li (") && concurrent.contains("更正商户信息 · zhao ("),
        "{concurrent}"
    );

    let history = section(&reviewer, "history");
    for (before, after) in [(FIRST_PHONE, LI_PHONE), (FIRST_PHONE, ZHAO_PHONE)] {
        let change = format!(
            "注册手机号：<span class=\"mono before\">{}</span> → <span class=\"mono after\">{}</span>",
            mask(before),
            mask(after)
        );
        assert!(history.contains(&change), "{change} in {history}");
    }
    let step = "备份旧终端数据（日结报表、交易记录、结算单）；商户拒绝备份须签字确认 · 状态：<span class=\"mono before\">未完成</span> → \
                <span class=\"mono after\">已完成</span>";
    assert!(history.contains(step), "{history}");
    for phone in [FIRST_PHONE, LI_PHONE, ZHAO_PHONE] {
        assert_eq!(shown(&reviewer, phone, &mask(phone)), (false, true), "{phone} masked for a reviewer");
    }

    // The JSON API's visit carries the same, masked by the same rule.
    let credentials = base64::engine::general_purpose::STANDARD.encode(format!("wang:{PASSWORD}"));
    let api: serde_json::Value = client
        .get(format!("{base}/api/v1/office/visits/{VISIT}"))
        .header("authorization", format!("Basic {credentials}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let edit = &api["concurrent_edits"][0];
    assert_eq!(edit["path"], "merchant.phone", "{api}");
    assert_eq!(edit["winner"]["value"], mask(&shown_phone));
    assert_eq!(edit["losers"][0]["value"], mask(lost_phone));
    let changes = api["history_changes"].as_object().unwrap();
    let mut phones: Vec<(serde_json::Value, serde_json::Value)> = changes
        .values()
        .flat_map(|c| c.as_array().unwrap())
        .filter(|c| c["path"] == "merchant.phone")
        .map(|c| (c["before"].clone(), c["after"].clone()))
        .collect();
    phones.sort_by_key(|pair| pair.1.to_string());
    let masked = |phone: &str| serde_json::Value::from(mask(phone));
    let expected = [
        (masked(FIRST_PHONE), masked(ZHAO_PHONE)),
        (serde_json::Value::Null, masked(FIRST_PHONE)),
        (masked(FIRST_PHONE), masked(LI_PHONE)),
    ];
    assert_eq!(phones, expected, "created, then corrected on each phone");

    let admin = visit_page(&client, &base, "zhou").await;
    for phone in [FIRST_PHONE, LI_PHONE, ZHAO_PHONE] {
        assert_eq!(shown(&admin, phone, &mask(phone)), (true, false), "{phone} whole for an administrator");
    }
    assert!(
        section(&admin, "concurrent").contains(&format!("<span class=\"mono loser\">{lost_phone}</span>"))
    );

    running.stop().await.unwrap();
}
