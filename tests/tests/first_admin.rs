//! The first administrator of a new install, made with the one-time link
//! `serve` writes into the data folder: no password anyone knew before,
//! the code never in the log, wrong codes throttled per address, a new
//! code at each start while no administrator exists, and the setup gone
//! for good once one does. A real server process.

use std::path::Path;
use std::time::Duration;

use posfield_e2e::{ServerProcess, TEST_PASSWORD};
use reqwest::blocking::Client;
use reqwest::redirect::Policy;

/// The code of the setup link in the data folder's `first-admin.txt`.
fn code_in(data: &Path) -> String {
    let text = std::fs::read_to_string(data.join("first-admin.txt")).unwrap();
    let link = text.lines().find(|line| line.starts_with("/office/setup?code=")).expect("the link");
    link.trim_start_matches("/office/setup?code=").to_owned()
}

fn browser() -> Client {
    Client::builder().redirect(Policy::none()).build().unwrap()
}

/// POSTs the setup form; the status, the body and the session cookie set.
fn set_up(
    server: &ServerProcess,
    code: &str,
    user: &str,
    password: &str,
    again: &str,
) -> (u16, String, String) {
    let form = [("code", code), ("user", user), ("password", password), ("password_again", again)];
    let response = browser().post(server.url("office/setup")).form(&form).send().unwrap();
    let status = response.status().as_u16();
    let cookie = response
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_owned())
        .unwrap_or_default();
    (status, response.text().unwrap(), cookie)
}

#[test]
fn the_first_administrator_is_made_once_with_the_link_from_the_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");

    // Wrong codes count against the address's enrolment-code limit: past
    // it, even the right code waits.
    let server = ServerProcess::start_configured(&data, "127.0.0.1:0", "code_failures_per_address = 2\n");
    let first_code = code_in(&data);
    assert_eq!(first_code.len(), 32, "128 bits in hex");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("first-admin.txt")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let page = browser().get(server.url(&format!("office/setup?code={first_code}"))).send().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.headers()["cache-control"], "no-store");
    let page = page.text().unwrap();
    assert!(page.contains("设置首位管理员") && page.contains(">English<"), "zh-CN first, with the switch");
    let wrong = "0".repeat(32);
    for _ in 0..2 {
        let (status, page, cookie) = set_up(&server, &wrong, "mallory", TEST_PASSWORD, TEST_PASSWORD);
        assert_eq!(status, 403);
        assert!(page.contains("设置链接不正确或已失效") && cookie.is_empty(), "{page}");
    }
    let (status, _, cookie) = set_up(&server, &first_code, "zhou", TEST_PASSWORD, TEST_PASSWORD);
    assert_eq!(status, 429, "the third try of the minute is throttled");
    assert!(cookie.is_empty());
    drop(server);

    // The next start makes a new code; the last one opens nothing. Its
    // log says where the link is, never the code.
    let log = dir.path().join("server.log");
    let server = ServerProcess::start_tracing_to(&data, &log);
    let code = code_in(&data);
    assert_ne!(code, first_code, "a new code at each start");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("first-admin.txt"), "the log says where the link is");
    assert!(!logged.contains(&code) && !logged.contains(&first_code), "a setup code in the log");
    let (status, _, _) = set_up(&server, &first_code, "zhou", TEST_PASSWORD, TEST_PASSWORD);
    assert_eq!(status, 403, "the code of the last start");

    // The form's own refusals, with the right code.
    let (status, page, _) = set_up(&server, &code, "zhou", TEST_PASSWORD, "correct horse battery!");
    assert_eq!(status, 422);
    assert!(page.contains("两次输入的密码不一致"), "{page}");
    let (status, page, _) = set_up(&server, &code, "zhou", "too short", "too short");
    assert_eq!(status, 422);
    assert!(page.contains("至少需要 10 个字符"), "{page}");
    let (status, _, _) = set_up(&server, &code, "周 经理", TEST_PASSWORD, TEST_PASSWORD);
    assert_eq!(status, 422, "a name with a space");

    // The right code: the administrator is made and signed in.
    let (status, _, cookie) = set_up(&server, &code, "zhou", TEST_PASSWORD, TEST_PASSWORD);
    assert_eq!(status, 303);
    assert!(cookie.starts_with("posfield_office="), "{cookie}");
    let devices = browser().get(server.url("office/devices")).header("cookie", &cookie).send().unwrap();
    assert_eq!(devices.status().as_u16(), 200, "an administrator's page");
    assert!(!data.join("first-admin.txt").exists(), "the used link's file is gone");
    let audit = server.audited("zhou", "the first administrator zhou, by the setup link");
    assert_eq!(audit, [("zhou".to_owned(), "first_admin_made".to_owned())]);

    // Gone for good: the routes, the code, and the next start's link.
    let page = browser().get(server.url(&format!("office/setup?code={code}"))).send().unwrap();
    assert_eq!(page.status().as_u16(), 404);
    let (status, _, cookie) = set_up(&server, &code, "mallory", TEST_PASSWORD, TEST_PASSWORD);
    assert_eq!((status, cookie.as_str()), (404, ""));
    assert!(server.terminate(Duration::from_secs(20)));
    let server = ServerProcess::start(&data);
    assert!(!data.join("first-admin.txt").exists(), "a link written while an administrator exists");
    let page = browser().get(server.url("office/setup")).send().unwrap();
    assert_eq!(page.status().as_u16(), 404);
    assert_eq!(server.office_get("zhou", "api/v1/office/audit").0, 200, "the password chosen signs in");
}

#[test]
fn a_server_whose_administrator_was_added_on_the_command_line_offers_no_link() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    posfield_e2e::server_cli(&data, &["add-user", "zhou", "--role", "admin"]);
    let server = ServerProcess::start(&data);
    assert!(!data.join("first-admin.txt").exists());
    let page = browser().get(server.url("office/setup")).send().unwrap();
    assert_eq!(page.status().as_u16(), 404);
}
