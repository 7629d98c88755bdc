//! Pushed visits: documents an agent's phone sends whole (visits new to the
//! server) or as the changes since the server's heads, many in one request.
//!
//! A pushed visit costs the server one automerge load and one read of the
//! typed visit, and its projection is written before the answer leaves, in
//! one transaction for the whole push; automerge's sync protocol costs a
//! repository, several messages each way and a second load for the
//! projection (docs/decisions.md has the measurement). The rules are the
//! same as for a sync connection: the agent reaches only its own and its
//! assigned visits, an unreadable document or another visit's is refused
//! and stored nowhere, and back-office fields an agent altered are restored.
//! The changes a push brings must be written under the pushing device's
//! automerge actors ([`crate::actors`]).

use std::collections::HashSet;

use posfield_shared::protocol::{PushOutcome, PushedVisit};
use posfield_shared::visit::authority::Sender;
use posfield_shared::visit::pushed::{PushRefusal, check_pushed, new_actors};
use posfield_shared::visit::{Visit, VisitDoc};

use crate::State;
use crate::projection::{self, ProjectionError};
use crate::store::{Principal, StoreError};

/// Merges `visits` pushed by `principal`'s phone into the server's
/// documents and projections. Returns one outcome per visit, in order;
/// fails as a whole only when the store does.
pub async fn push(
    state: &State,
    principal: &Principal,
    visits: Vec<PushedVisit>,
) -> Result<Vec<PushOutcome>, ProjectionError> {
    let mut outcomes: Vec<Option<PushOutcome>> = vec![None; visits.len()];
    let mut seen = HashSet::new();
    let mut candidates = Vec::with_capacity(visits.len());
    for (index, visit) in visits.into_iter().enumerate() {
        let refusal = if posfield_sync_link_server::doc_id(&visit.id).is_err() {
            Some(("bad_visit_id", "not a visit id"))
        } else if !seen.insert(visit.id.clone()) {
            Some(("duplicate", "the visit is in this push more than once"))
        } else {
            None
        };
        match refusal {
            Some((code, message)) => outcomes[index] = Some(PushOutcome::refused(&visit.id, code, message)),
            None => candidates.push((index, visit)),
        }
    }
    // The access rule, for all of them at once; new visits are claimed.
    let ids: Vec<String> = candidates.iter().map(|(_, visit)| visit.id.clone()).collect();
    let reached = state.store.reaches_visits(principal, &ids, true).await?;
    let mut work = Vec::with_capacity(candidates.len());
    for ((index, visit), reached) in candidates.into_iter().zip(reached) {
        let id = visit.id.clone();
        if !reached {
            outcomes[index] = Some(PushOutcome::refused(&id, "not_found", "no such visit"));
            continue;
        }
        let chunks = state.repo.chunks(&id).await?.unwrap_or_default();
        if chunks.is_empty() && !visit.base.is_empty() {
            let message = "the server does not have this visit yet: send the whole document";
            outcomes[index] = Some(PushOutcome::refused(&id, "unknown_base", message));
            continue;
        }
        work.push((index, visit, chunks));
    }

    // The automerge work, off the async threads and a few pushes at a time.
    let loaded = {
        let _turn = state.push_turns.acquire().await.map_err(|_| StoreError::Cancelled)?;
        tokio::task::spawn_blocking(move || {
            work.into_iter()
                .map(|(index, visit, chunks)| {
                    let checked = checked_with_actors(&chunks, &visit.bytes);
                    (index, visit, checked)
                })
                .collect::<Vec<_>>()
        })
        .await
        .map_err(|_| StoreError::Cancelled)?
    };

    // A visit already damaged in storage (chunks stored before pushes were
    // checked whole) would refuse every push: it is quarantined, its last
    // good state kept, and the push is tried again on that.
    let mut retried = Vec::with_capacity(loaded.len());
    for (index, pushed, loaded) in loaded {
        let quarantined = match &loaded {
            Err(PushRefusal::Unreadable(_)) => projection::load_stored(state, &pushed.id)
                .await?
                .is_some_and(|stored| stored.damaged && stored.loaded.is_ok()),
            _ => false,
        };
        let loaded = if quarantined {
            let chunks = state.repo.chunks(&pushed.id).await?.unwrap_or_default();
            let bytes = pushed.bytes.to_vec();
            tokio::task::spawn_blocking(move || checked_with_actors(&chunks, &bytes))
                .await
                .map_err(|_| StoreError::Cancelled)?
        } else {
            loaded
        };
        retried.push((index, pushed, loaded));
    }
    let loaded = retried;

    // A reference the server would follow must be a hash: a visit naming
    // anything else (a path, a device), or holding more marks than any app
    // makes, is refused whole and nothing of it is stored. An unreadable one is refused by `settle`, with its audit row.
    let loaded: Vec<_> = loaded
        .into_iter()
        .filter_map(|(index, pushed, checked)| match checked {
            Err(refusal @ (PushRefusal::BadReference { .. } | PushRefusal::OverBounds(_))) => {
                tracing::warn!(visit = %pushed.id, %refusal, "a pushed visit names a reference that is not a hash or is over the bounds");
                outcomes[index] = Some(PushOutcome::refused(&pushed.id, refusal.code(), refusal.to_string()));
                None
            }
            Err(PushRefusal::Unreadable(error)) => Some((index, pushed, Err(error), Vec::new())),
            Ok((doc, visit, actors)) => Some((index, pushed, Ok((doc, visit)), actors)),
        })
        .collect();

    // The changes the push brings must be this device's: a visit with one
    // under the server's actor or another device's is refused whole and
    // nothing of it is stored; the actors it binds are bound first.
    // A document of another visit is refused by `settle` and stored nowhere.
    let actors: Vec<Vec<Vec<u8>>> = loaded
        .iter()
        .map(|(_, pushed, loaded, actors)| match loaded {
            Ok((_, visit)) if visit.id == pushed.id => actors.clone(),
            _ => Vec::new(),
        })
        .collect();
    let judged =
        crate::actors::check_actors(state.store.as_ref(), principal, &actors, state.clock.now()).await?;
    let mut kept = Vec::with_capacity(loaded.len());
    for ((index, pushed, loaded, _), judged) in loaded.into_iter().zip(judged) {
        match judged {
            Ok(()) => kept.push((index, pushed, loaded)),
            Err(refusal) => {
                let outcome = crate::actors::audit_refusal(state, principal, &pushed.id, &refusal).await?;
                outcomes[index] = Some(outcome);
            }
        }
    }
    let loaded = kept;

    // Readable documents of the visits they claim to be are stored first, so
    // that a crash before their projection is written loses nothing: the
    // phone, seeing the visit still missing from the manifest, pushes again.
    let mut chunks = Vec::new();
    for (_, pushed, loaded) in &loaded {
        if let Ok((_, visit)) = loaded
            && visit.id == pushed.id
        {
            chunks.push((
                posfield_sync_link_server::storage::chunk_key(&pushed.id, &pushed.bytes)?,
                pushed.bytes.to_vec(),
            ));
        }
    }
    if !chunks.is_empty() {
        state.store.put_chunks(chunks).await?;
    }

    // The pushed visits' turns: pushes of other visits go on meanwhile.
    let _turns = state.turns.visits(loaded.iter().map(|(_, pushed, _)| pushed.id.as_str())).await?;
    let mut rows = Vec::new();
    // What arrived is the authenticated agent's, through this device: an
    // acceptance in it is verified with this device's key alone, and the
    // history entries it adds are recorded as sent by them.
    let sender = match principal {
        Principal::Agent { agent, device } => Some(Sender { user: agent.clone(), device: device.clone() }),
        Principal::Office { .. } => None,
    };
    for (index, pushed, mut loaded) in loaded {
        let known_heads = loaded.as_mut().map(|(doc, _)| doc.heads()).unwrap_or_default();
        outcomes[index] = Some(match projection::settle(state, &pushed.id, loaded, sender.as_ref()).await {
            Ok(Some(settled)) => {
                let mut outcome = PushOutcome::stored(&pushed.id, settled.row.heads.clone());
                outcome.reverted = settled.reverted.iter().map(|f| f.code().to_owned()).collect();
                outcome.message = settled.told();
                rows.push(settled.row);
                outcome
            }
            Ok(None) => PushOutcome::stored(&pushed.id, known_heads),
            Err(ProjectionError::Document { reason, .. }) => {
                PushOutcome::refused(&pushed.id, "unreadable", reason)
            }
            // Restoring a back-office field was refused by the visit's rules:
            // this visit stays as it was stored, the others go on.
            Err(ProjectionError::Visit(error)) => {
                tracing::warn!(visit = %pushed.id, %error, "a pushed visit could not be projected");
                PushOutcome::refused(&pushed.id, "refused", error.to_string())
            }
            // The database failed: the whole push fails and the phone sends it
            // again (what was stored is found again, once).
            Err(other) => return Err(other),
        });
    }
    projection::write_rows(state, rows, Vec::new()).await?;
    Ok(outcomes.into_iter().flatten().collect())
}

/// The checks of a pushed visit against its `stored` chunks, and the actors
/// of the changes it brings.
fn checked_with_actors(
    stored: &[Vec<u8>],
    pushed: &[u8],
) -> Result<(VisitDoc, Visit, Vec<Vec<u8>>), PushRefusal> {
    let stored: Vec<&[u8]> = stored.iter().map(Vec::as_slice).collect();
    let (mut doc, visit) = check_pushed(&stored, pushed)?;
    let actors = new_actors(&stored, &mut doc)?;
    Ok((doc, visit, actors))
}
