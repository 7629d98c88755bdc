//! The back office's sessions in the store: found while live, over after
//! the idle time or the lifetime, ended by a role or password change, the
//! user's removal or signing out, removed once over, and never opened for a
//! password that changed since it was checked.

use super::engines;
use crate::store::{NewSession, SessionLimits, Store, UserRole};

const LIMITS: SessionLimits = SessionLimits { idle_secs: 600, lifetime_secs: 3600, per_user: 3 };

/// When the sessions of these tests are opened (Unix seconds).
const T0: i64 = 1_790_000_000;

/// The password hash each user of these tests is added with.
fn hash_of(user: &str) -> String {
    format!("hash-of-{user}")
}

/// A session of `user`, signed in with the password hash they were added with.
fn new_session(token_hash: &str, user: &str, at: i64) -> NewSession {
    NewSession {
        token_hash: token_hash.into(),
        user: user.into(),
        password_hash: hash_of(user),
        csrf: format!("csrf-of-{token_hash}"),
        at,
    }
}

/// Adds the users of these tests.
async fn add_users(store: &dyn Store, users: &[(&str, UserRole)]) {
    for (user, role) in users {
        store.put_user(user, *role, &hash_of(user)).await.unwrap();
    }
}

/// What happens to `chen`'s session after it is opened at [`T0`].
#[derive(Debug, Clone, Copy)]
enum Then {
    /// The session is used.
    Touch(i64),
    /// `chen` gets this role and this password (`add-user` again).
    PutUser(UserRole, Password),
    /// Another user's role and password change.
    PutOtherUser,
    /// `chen` is removed.
    RemoveUser,
    /// `chen` signs out of this session.
    SignOut,
    /// Every session of `chen` ends.
    EndAll,
}

/// The password `add-user` sets again.
#[derive(Debug, Clone, Copy)]
enum Password {
    /// The one the session was opened with (hashed anew, as `add-user` does).
    Same,
    /// Another.
    New,
}

/// Opens `chen`'s session (a reviewer) at [`T0`],
/// does `then`, and looks the session up at `at`: it must be found with
/// `role`, or be over (`None`) and then gone even at a time it was live.
async fn check(property: &str, then: &[Then], at: i64, role: Option<UserRole>) {
    for store in engines().await {
        add_users(&*store, &[("chen", UserRole::Reviewer), ("li", UserRole::Reviewer)]).await;
        assert!(store.create_session(&new_session("h1", "chen", T0), LIMITS).await.unwrap(), "{property}");
        for step in then {
            match *step {
                Then::Touch(when) => store.touch_session("h1", when).await.unwrap(),
                Then::PutUser(role, password) => {
                    let hash = match password {
                        Password::Same => format!("{}-salted-anew", hash_of("chen")),
                        Password::New => "hash-of-another-password".to_owned(),
                    };
                    store.put_user("chen", role, &hash).await.unwrap();
                }
                Then::PutOtherUser => store.put_user("li", UserRole::Admin, "hash-m").await.unwrap(),
                Then::RemoveUser => assert!(store.remove_user("chen").await.unwrap(), "{property}"),
                Then::SignOut => assert!(store.end_session("h1").await.unwrap(), "{property}"),
                Then::EndAll => assert_eq!(store.end_user_sessions("chen").await.unwrap(), 1, "{property}"),
            }
        }
        let found = store.session("h1", at, LIMITS).await.unwrap();
        assert_eq!(found.as_ref().map(|s| s.role), role, "{property}");
        match found {
            Some(session) => {
                assert_eq!(
                    (session.user.as_str(), session.csrf.as_str()),
                    ("chen", "csrf-of-h1"),
                    "{property}"
                );
                assert_eq!(session.created_at, T0, "{property}");
            }
            None => {
                let again = store.session("h1", T0 + 1, LIMITS).await.unwrap();
                assert_eq!(again, None, "{property}: a session that is over is removed");
            }
        }
    }
}

#[tokio::test]
async fn sessions_live_until_idle_lifetime_or_a_change_of_their_user_ends_them() {
    use Then::*;
    let every_9_minutes: Vec<Then> = (1..=6).map(|n| Touch(T0 + n * 540)).collect();
    let cases: &[(&str, &[Then], i64, Option<UserRole>)] = &[
        ("a new session is found", &[], T0 + 1, Some(UserRole::Reviewer)),
        ("unused, it lives until just before the idle time", &[], T0 + 599, Some(UserRole::Reviewer)),
        ("unused for the idle time, it is over", &[], T0 + 600, None),
        ("a use starts the idle time again", &[Touch(T0 + 500)], T0 + 1099, Some(UserRole::Reviewer)),
        ("idle after its last use, it is over", &[Touch(T0 + 500)], T0 + 1100, None),
        (
            "a late touch never moves the last use back",
            &[Touch(T0 + 500), Touch(T0 + 100)],
            T0 + 1050,
            Some(UserRole::Reviewer),
        ),
        (
            "used all along, it lives until just before its lifetime",
            &every_9_minutes,
            T0 + 3599,
            Some(UserRole::Reviewer),
        ),
        ("used all along, it is over at its lifetime", &every_9_minutes, T0 + 3600, None),
        ("a role change ends it", &[PutUser(UserRole::Admin, Password::Same)], T0 + 1, None),
        ("a password change ends it", &[PutUser(UserRole::Reviewer, Password::New)], T0 + 1, None),
        ("the same password set again ends it", &[PutUser(UserRole::Reviewer, Password::Same)], T0 + 1, None),
        ("removing the user ends it", &[RemoveUser], T0 + 1, None),
        ("signing out ends it", &[SignOut], T0 + 1, None),
        ("ending all of the user's sessions ends it", &[EndAll], T0 + 1, None),
        ("another user's change leaves it", &[PutOtherUser], T0 + 1, Some(UserRole::Reviewer)),
    ];
    for (property, then, at, role) in cases {
        check(property, then, *at, *role).await;
    }
}

#[tokio::test]
async fn a_new_session_removes_those_that_are_over_and_the_least_used_beyond_the_users_share() {
    for store in engines().await {
        add_users(&*store, &[("chen", UserRole::Reviewer), ("li", UserRole::Admin)]).await;
        assert!(store.create_session(&new_session("idle", "li", T0), LIMITS).await.unwrap());
        for (n, hash) in ["c1", "c2", "c3"].into_iter().enumerate() {
            assert!(
                store.create_session(&new_session(hash, "chen", T0 + 700 + n as i64), LIMITS).await.unwrap()
            );
        }
        store.touch_session("c1", T0 + 710).await.unwrap();
        // chen's fourth: c2, now the least recently used, makes room.
        assert!(store.create_session(&new_session("c4", "chen", T0 + 720), LIMITS).await.unwrap());
        // (token hash, live) at a time every session would be live by its age.
        let cases = [("idle", false), ("c1", true), ("c2", false), ("c3", true), ("c4", true)];
        for (hash, live) in cases {
            let found = store.session(hash, T0 + 721, SessionLimits { per_user: 3, ..LIMITS }).await.unwrap();
            assert_eq!(found.is_some(), live, "{hash}");
        }
        // li's session was over when chen's were opened, and is gone though never looked up since.
        let wide = SessionLimits { idle_secs: i64::MAX, lifetime_secs: i64::MAX, per_user: 3 };
        assert_eq!(store.session("idle", T0 + 1, wide).await.unwrap(), None);
    }
}

#[tokio::test]
async fn a_session_survives_reopening_the_store_and_a_shorter_limit_holds_for_it() {
    for store in engines().await {
        add_users(&*store, &[("chen", UserRole::Admin)]).await;
        assert!(store.create_session(&new_session("h1", "chen", T0), LIMITS).await.unwrap());
        let store = store.reopen().await;
        let found = store.session("h1", T0 + 300, LIMITS).await.unwrap().unwrap();
        assert_eq!((found.user.as_str(), found.role), ("chen", UserRole::Admin));
        let shorter = SessionLimits { idle_secs: 200, ..LIMITS };
        assert_eq!(store.session("h1", T0 + 300, shorter).await.unwrap(), None);
    }
}

#[tokio::test]
async fn no_session_opens_for_a_user_gone_or_whose_password_changed_since_the_check() {
    for store in engines().await {
        add_users(&*store, &[("chen", UserRole::Reviewer)]).await;
        // The password was checked against chen's hash, then changed before the session was opened.
        store.put_user("chen", UserRole::Reviewer, "hash-of-another-password").await.unwrap();
        assert!(!store.create_session(&new_session("h1", "chen", T0), LIMITS).await.unwrap());
        assert!(!store.create_session(&new_session("h2", "nobody", T0), LIMITS).await.unwrap());
        for hash in ["h1", "h2"] {
            assert_eq!(store.session(hash, T0 + 1, LIMITS).await.unwrap(), None, "{hash}");
        }
        assert!(!store.remove_user("nobody").await.unwrap());
        assert!(!store.end_session("h1").await.unwrap());
    }
}
