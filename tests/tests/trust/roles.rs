//! The desk's actions through the JSON API, by role: what the pages
//! refuse a reviewer, the API refuses too, and a visit goes only to an
//! agent that exists.

use posfield_core::VisitFilter;

use super::{ADMIN, REVIEWER, id_of, world};

/// Creating and assigning visits are the administrator's: a reviewer's
/// Basic credentials on the JSON API get 403 with `{"error": "forbidden"}`,
/// as the pages refuse them, and nothing is created or reassigned.
#[test]
fn a_reviewer_cannot_create_or_assign_through_the_api() {
    let mut w = world();
    let id = w.synced_inspection();
    // The reviewer reads; the administrator creates and assigns.
    let (status, body) = w.server.office_get(REVIEWER, &format!("api/v1/office/visits/{id}"));
    assert_eq!(status, 200, "{body}");
    let (status, body) = w.desk_create(ADMIN, "inspection", "张姐水果店", "wang");
    assert_eq!(status, 201, "{body}");
    let (status, body) = w.desk_assign(ADMIN, id_of(&body).as_str(), "wang");
    assert_eq!(status, 200, "{body}");
    let visits_before = w.wang.list_visits(&VisitFilter::default()).unwrap().len();

    let created = w.desk_create(REVIEWER, "inspection", "张姐水果店", "wang");
    let assigned = w.desk_assign(REVIEWER, id.as_str(), REVIEWER);
    w.sync_wang();
    let visits_after = w.wang.list_visits(&VisitFilter::default()).unwrap().len();
    let assignee = w.shown(id.as_str())["visit"]["assignment"]["agent"].clone();
    assert!(
        created.0 == 403
            && created.1["error"] == "forbidden"
            && assigned.0 == 403
            && assigned.1["error"] == "forbidden"
            && visits_after == visits_before + 1
            && assignee == "wang",
        "a reviewer acted as administrator through the API: create {created:?}, assign {assigned:?}; \
         wang now holds {visits_after} visits (was {visits_before}, one created by the administrator), \
         the visit is assigned to {assignee}"
    );
}

/// A visit is created for, or assigned to, an enrolled agent only.
/// Contract: 422 with `{"error": "unknown_agent"}`; nothing is created
/// and the assignment stays.
#[test]
fn visits_are_assigned_only_to_enrolled_agents() {
    let mut w = world();
    let _li = w.agent("li");
    let id = w.synced_inspection();
    // An enrolled agent is a valid assignee.
    let (status, body) = w.desk_assign(ADMIN, id.as_str(), "li");
    assert_eq!((status, &body["assignee"]), (200, &serde_json::json!("li")), "{body}");

    let created = w.desk_create(ADMIN, "inspection", "张姐水果店", "nobody-by-this-name");
    let assigned = w.desk_assign(ADMIN, id.as_str(), "nobody-by-this-name");
    let assignee = w.shown(id.as_str())["visit"]["assignment"]["agent"].clone();
    assert!(
        created.0 == 422
            && created.1["error"] == "unknown_agent"
            && assigned.0 == 422
            && assigned.1["error"] == "unknown_agent"
            && assignee == "li",
        "visits went to an agent that does not exist: create {created:?}, assign {assigned:?}, assignee now {assignee}"
    );
}
