//! Whose automerge actor a pushed change is written under.
//!
//! automerge records with every change the actor id its writer chose, and
//! the server writes its own changes under its node's actor, which starts
//! with [`SERVER_ACTOR_ID`] ([`crate::projection::node_actor`]). A phone
//! could choose any actor: the server's (so that what it wrote reads as the
//! server's, and collides with the server's next change) or another
//! device's. So each device is given, at enrolment, [`PREFIX_LEN`] random
//! bytes that every actor it writes under starts with; its phone adds eight
//! random bytes of each process's own, as two processes on one phone (the
//! app and its background sync) must never share an actor. Devices
//! enrolled before prefixes were given, and edits a phone made before it
//! enrolled, write under actors of 16 random bytes: such an actor is bound
//! to the first device whose push brings a change under it, and is that
//! device's from then on ([`judge`] is the rule).
//!
//! A push is checked on the changes new to the server only
//! ([`posfield_shared::visit::pushed::new_actors`]): a phone sends back
//! the server's changes and other devices' that it received, and the
//! server holds those already. A visit bringing a change under an actor
//! that is not the pushing device's is refused whole ([`check_actors`]),
//! its bindings are written before any of its chunks are stored, and each
//! refusal is audited, a few rows per device and minute ([`audit_refusal`]).

use posfield_shared::protocol::PushOutcome;

use crate::State;
#[cfg(test)]
use crate::projection::SERVER_ACTOR_ID;
use crate::projection::is_server_actor;
use crate::store::{ActorOwner, AuditEntry, Principal, Store, StoreError};

/// Bytes of a device's actor prefix.
pub const PREFIX_LEN: usize = 8;

/// Bytes of an actor a phone with a prefix writes under: the prefix and
/// eight random bytes per process.
pub const ACTOR_LEN: usize = 16;

/// The stable code of a push refused for an actor that is not the device's.
pub const REFUSED_CODE: &str = "foreign_actor";

/// Whose an actor is, for the device whose push brings a change under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Under the device's prefix, or bound to the device: accepted.
    Own,
    /// Nobody's yet: accepted, and bound to the device.
    Bind,
    /// The server's own actor: refused.
    Server,
    /// Another device's, by its prefix or a binding (its server id): refused.
    OtherDevice(String),
}

/// The rule: a change's `actor` is accepted for `device` (whose prefix is
/// `own_prefix`, if it was given one) iff it is not a server's actor,
/// and either it is [`ACTOR_LEN`] bytes under the device's prefix, or it
/// starts with no other device's prefix and is bound to no other device
/// (`owner` says who the store finds). An accepted actor not under the
/// device's prefix is bound to it, unless it is already.
pub fn judge(actor: &[u8], device: &str, own_prefix: Option<&[u8]>, owner: &ActorOwner) -> Verdict {
    if is_server_actor(actor) {
        return Verdict::Server;
    }
    if own_prefix.is_some_and(|prefix| actor.len() == ACTOR_LEN && actor.starts_with(prefix)) {
        return Verdict::Own;
    }
    for other in [&owner.prefix_of, &owner.bound_to].into_iter().flatten() {
        if other != device {
            return Verdict::OtherDevice(other.clone());
        }
    }
    if owner.bound_to.is_some() { Verdict::Own } else { Verdict::Bind }
}

/// A change under an actor the pushing device may not write under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignActor {
    /// The actor.
    pub actor: Vec<u8>,
    /// Whose it is: `None` for the server's, else the other device's server id.
    pub owner: Option<String>,
}

impl ForeignActor {
    /// The refusal in words, for the phone: whose actor it is (another
    /// device is not named to it).
    pub fn message(&self) -> String {
        match &self.owner {
            None => "a change is written under the server's automerge actor, which no phone may write under"
                .into(),
            Some(_) => format!(
                "a change is written under automerge actor {}, which is another device's",
                hex::encode(&self.actor)
            ),
        }
    }

    /// The audit row's detail: the device that pushed, and whose actor it used.
    fn detail(&self, device: &str) -> String {
        match &self.owner {
            None => format!("device {device} pushed a change under the server's actor"),
            Some(other) => {
                format!(
                    "device {device} pushed a change under actor {} of device {other}",
                    hex::encode(&self.actor)
                )
            }
        }
    }
}

/// Checks the actors of each pushed visit's new changes (`visits`, one
/// list per visit) for `principal`'s device, and binds to it at `at` the
/// unbound actors of the visits accepted. One result per visit, in order.
/// Only a device pushes: for any other principal every visit bringing a
/// change is refused.
pub async fn check_actors(
    store: &dyn Store,
    principal: &Principal,
    visits: &[Vec<Vec<u8>>],
    at: i64,
) -> Result<Vec<Result<(), ForeignActor>>, StoreError> {
    let Some(device) = principal.device() else {
        let refused = |actors: &Vec<Vec<u8>>| match actors.first() {
            Some(actor) => Err(ForeignActor { actor: actor.clone(), owner: Some(String::new()) }),
            None => Ok(()),
        };
        return Ok(visits.iter().map(refused).collect());
    };
    let mut asked: Vec<Vec<u8>> = visits.iter().flatten().cloned().collect();
    asked.sort();
    asked.dedup();
    let owners = store.actor_owners(device, &asked).await?;
    let owner_of = |actor: &[u8]| {
        asked.binary_search_by(|known| known.as_slice().cmp(actor)).ok().map(|i| &owners.actors[i])
    };
    let mut results = Vec::with_capacity(visits.len());
    for actors in visits {
        let mut to_bind = Vec::new();
        let mut refused = None;
        for actor in actors {
            let owner = owner_of(actor).cloned().unwrap_or_default();
            match judge(actor, device, owners.own_prefix.as_deref(), &owner) {
                Verdict::Own => {}
                Verdict::Bind => to_bind.push(actor.clone()),
                Verdict::Server => refused = Some(ForeignActor { actor: actor.clone(), owner: None }),
                Verdict::OtherDevice(other) => {
                    refused = Some(ForeignActor { actor: actor.clone(), owner: Some(other) });
                }
            }
            if refused.is_some() {
                break;
            }
        }
        if refused.is_none() && !to_bind.is_empty() {
            // Another device's push may have bound one meanwhile: then it is that device's.
            refused = store
                .bind_actors(device, &to_bind, at)
                .await?
                .map(|(actor, other)| ForeignActor { actor, owner: Some(other) });
        }
        results.push(refused.map_or(Ok(()), Err));
    }
    Ok(results)
}

/// The outcome of visit `visit_id` refused for `refusal`, after its audit
/// row: the first refusals of each device in a minute are audited, then
/// one at each power of ten (the row carries the count), so a phone
/// pushing the same refused visit again and again writes a handful of rows.
pub async fn audit_refusal(
    state: &State,
    principal: &Principal,
    visit_id: &str,
    refusal: &ForeignActor,
) -> Result<PushOutcome, StoreError> {
    let device = principal.device().unwrap_or_default();
    tracing::warn!(visit = %visit_id, %device, actor = %hex::encode(&refusal.actor), "a push under a foreign actor refused");
    let count = state.throttles.foreign_actor_refusals.take(&device.to_owned(), state.clock.now());
    if let Ok(n) = count
        && crate::throttle::audits_refusal(n)
    {
        let detail = format!("{}: refusal {n} of this device this minute", refusal.detail(device));
        state.store.audit(AuditEntry::new(Some(visit_id), principal.name(), REFUSED_CODE, &detail)).await?;
    }
    Ok(PushOutcome::refused(visit_id, REFUSED_CODE, refusal.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEVICE: &str = "device-a";
    const PREFIX: [u8; PREFIX_LEN] = *b"prefix-a";

    fn owner(prefix_of: Option<&str>, bound_to: Option<&str>) -> ActorOwner {
        ActorOwner { prefix_of: prefix_of.map(str::to_owned), bound_to: bound_to.map(str::to_owned) }
    }

    fn under(prefix: &[u8], rest: &[u8]) -> Vec<u8> {
        [prefix, rest].concat()
    }

    /// The verdict on `actor` pushed by [`DEVICE`] with prefix `own_prefix`,
    /// when the store finds it under `prefix_of`'s prefix and bound to `bound_to`.
    fn check(what: &str, actor: &[u8], own_prefix: Option<&[u8]>, found: ActorOwner, expected: Verdict) {
        assert_eq!(judge(actor, DEVICE, own_prefix, &found), expected, "{what}");
    }

    #[test]
    fn an_actor_is_the_devices_by_its_prefix_or_binding_and_never_the_servers() {
        let other = || Verdict::OtherDevice("device-b".into());
        let drawn: &[u8] = b"random sixteen b";
        let own = Some(&PREFIX[..]);
        check("the server's actor", SERVER_ACTOR_ID, own, owner(None, None), Verdict::Server);
        let node = crate::projection::node_actor().unwrap();
        check("a server node's actor", &node, own, owner(None, None), Verdict::Server);
        check(
            "a server node's actor, bound to the device",
            &node,
            None,
            owner(None, Some(DEVICE)),
            Verdict::Server,
        );
        assert_ne!(node, crate::projection::node_actor().unwrap(), "two nodes drew the same actor");
        check(
            "the server's actor, bound to the device",
            SERVER_ACTOR_ID,
            None,
            owner(None, Some(DEVICE)),
            Verdict::Server,
        );
        check(
            "16 bytes under the device's prefix",
            &under(&PREFIX, b"process1"),
            own,
            owner(Some(DEVICE), None),
            Verdict::Own,
        );
        check(
            "under the device's prefix, though bound to another",
            &under(&PREFIX, b"process2"),
            own,
            owner(Some(DEVICE), Some("device-b")),
            Verdict::Own,
        );
        check(
            "another device's prefix",
            &under(b"prefix-b", b"process1"),
            own,
            owner(Some("device-b"), None),
            other(),
        );
        check(
            "another device's prefix, for a device without one",
            &under(b"prefix-b", b"process1"),
            None,
            owner(Some("device-b"), None),
            other(),
        );
        check("bound to another device", drawn, own, owner(None, Some("device-b")), other());
        check(
            "bound to another, for a device without a prefix",
            drawn,
            None,
            owner(None, Some("device-b")),
            other(),
        );
        check("nobody's, drawn before enrolment", drawn, own, owner(None, None), Verdict::Bind);
        check("nobody's, for a device without a prefix", drawn, None, owner(None, None), Verdict::Bind);
        check("bound to the device already", drawn, None, owner(None, Some(DEVICE)), Verdict::Own);
        check(
            "the device's prefix but not 16 bytes: bound like any other",
            &under(&PREFIX, b"x"),
            own,
            owner(Some(DEVICE), None),
            Verdict::Bind,
        );
        check("shorter than a prefix", b"tiny", own, owner(None, None), Verdict::Bind);
    }

    #[test]
    fn the_refusal_names_whose_actor_it_is_and_not_the_other_device() {
        let server = ForeignActor { actor: SERVER_ACTOR_ID.to_vec(), owner: None };
        assert!(server.message().contains("the server's automerge actor"), "{}", server.message());
        let device = ForeignActor { actor: b"ab".to_vec(), owner: Some("device-b".into()) };
        assert!(device.message().contains("another device's") && device.message().contains("6162"));
        assert!(!device.message().contains("device-b"), "{}", device.message());
        assert!(device.detail("device-a").contains("device-b"));
    }
}
