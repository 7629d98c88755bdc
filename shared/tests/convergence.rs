//! Property: random operations on 2 to 4 replicas (one back office, the rest
//! agents' phones), exchanged in random order with duplicated and dropped
//! changes that are resent later, always converge to identical visits that
//! contain everything any replica added.

mod common;

use std::collections::BTreeSet;

use common::*;
use posfield_shared::Actor;
use posfield_shared::visit::schema::ReviewDecision;
use posfield_shared::visit::{StepState, VisitDoc};
use posfield_shared::vocab::{DocumentKind, Term};
use posfield_shared::{FaultCode, Timestamp, VisitKind};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Action {
    /// Replica performs an operation chosen by `op` with parameter `arg`.
    Edit { replica: usize, op: u8, arg: u16 },
    /// Changes travel from one replica to another; `mask` picks which are
    /// delivered (the rest are dropped for now), `duplicate` sends them twice.
    Deliver { from: usize, to: usize, mask: u64, duplicate: bool },
}

fn action(replicas: usize) -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (0..replicas, any::<u8>(), any::<u16>()).prop_map(|(replica, op, arg)| Action::Edit { replica, op, arg }),
        2 => (0..replicas, 0..replicas, any::<u64>(), any::<bool>())
            .prop_map(|(from, to, mask, duplicate)| Action::Deliver { from, to, mask, duplicate }),
    ]
}

fn scenario() -> impl Strategy<Value = (usize, u8, Vec<Action>)> {
    (2usize..=4, 0u8..7).prop_flat_map(|(replicas, kind)| {
        (Just(replicas), Just(kind), proptest::collection::vec(action(replicas), 1..24))
    })
}

/// What the replicas added; all of it must be present after convergence.
#[derive(Default)]
struct Added {
    faults: BTreeSet<String>,
    notes: BTreeSet<String>,
    documents: BTreeSet<String>,
    history: BTreeSet<String>,
}

fn actor_of(replica: usize) -> Actor {
    if replica == 0 { reviewer() } else { Actor::agent("agent-li", format!("phone-{replica}")) }
}

/// Performs one edit; refused operations (wrong status, wrong role) are fine and add nothing.
fn edit(doc: &mut VisitDoc, replica: usize, op: u8, arg: u16, clock: &mut Clock, added: &mut Added) {
    let ctx = clock.ctx(&actor_of(replica));
    let visit = doc.visit().expect("replica readable");
    let steps = visit.kind.template().steps;
    let result = match op % 9 {
        0 => {
            doc.add_fault(&ctx, FaultCode::ALL[arg as usize % FaultCode::ALL.len()], Some("症状")).map(|_| {
                added.faults.insert(ctx.op_id.clone());
            })
        }
        1 => doc.add_note(&ctx, &format!("note {arg}")).map(|_| {
            added.notes.insert(ctx.op_id.clone());
        }),
        2 => {
            let blob = photo(&format!("photo-{replica}-{arg}"));
            let kind = DocumentKind::ALL[arg as usize % DocumentKind::ALL.len()];
            doc.attach_document(&ctx, &blob, kind, Timestamp(arg.into())).map(|_| {
                added.documents.insert(blob.sha256.clone());
            })
        }
        3 => {
            let step = steps[arg as usize % steps.len()];
            doc.set_step(&ctx, step.id.as_str(), StepState::Done, None, Some(&format!("r{replica}")))
                .map(|_| ())
        }
        4 => match visit.faults.get(arg as usize % visit.faults.len().max(1)) {
            Some(fault) => {
                doc.add_attempt(&ctx, &fault.id, None, Some("重启"), arg.is_multiple_of(2)).map(|_| ())
            }
            None => return,
        },
        5 => match visit.faults.get(arg as usize % visit.faults.len().max(1)) {
            Some(fault) => doc.remove_fault(&ctx, &fault.id).map(|_| ()),
            None => return,
        },
        6 => doc.review(&ctx, ReviewDecision::Return, Some("补充材料")).map(|_| ()),
        7 => doc.assign(&ctx, if arg.is_multiple_of(2) { "agent-li" } else { "agent-zhao" }).map(|_| ()),
        _ => doc.complete(&ctx).map(|_| ()),
    };
    if result.is_ok() {
        added.history.insert(ctx.op_id);
    }
}

fn deliver(replicas: &mut [VisitDoc], from: usize, to: usize, mask: u64, duplicate: bool) {
    if from == to {
        return;
    }
    let changes = replicas[from].changes();
    let mut chosen: Vec<Vec<u8>> =
        changes.into_iter().enumerate().filter(|(i, _)| mask >> (i % 64) & 1 == 1).map(|(_, c)| c).collect();
    if duplicate {
        chosen.extend(chosen.clone());
    }
    // Deliver newest first: automerge must hold back changes whose dependencies are missing.
    chosen.reverse();
    replicas[to].apply_changes(&chosen).expect("changes from a peer apply");
}

fn check(replica_count: usize, kind: u8, actions: &[Action]) -> Result<(), TestCaseError> {
    let mut clock = Clock::default();
    let kind = VisitKind::ALL[kind as usize];
    let mut origin = new_visit(&mut clock, kind);
    let mut added = Added::default();
    let mut replicas: Vec<VisitDoc> =
        (0..replica_count).map(|i| origin.fork(format!("replica-{i}").as_bytes())).collect();
    for action in actions {
        match *action {
            Action::Edit { replica, op, arg } => {
                edit(&mut replicas[replica], replica, op, arg, &mut clock, &mut added)
            }
            Action::Deliver { from, to, mask, duplicate } => {
                deliver(&mut replicas, from, to, mask, duplicate)
            }
        }
    }
    // Local writes go through the cached visit: it must match the document.
    for replica in replicas.iter_mut() {
        let reloaded = VisitDoc::load(&replica.save()).expect("saved replica loads");
        prop_assert_eq!(reloaded.visit().expect("readable"), replica.visit().expect("readable"));
    }
    // Resend everything that was dropped: two all-pairs rounds are enough.
    for _ in 0..2 {
        for from in 0..replica_count {
            for to in 0..replica_count {
                deliver(&mut replicas, from, to, u64::MAX, false);
            }
        }
    }
    let first_heads = replicas[0].heads();
    let first = replicas[0].visit().expect("readable");
    for replica in replicas.iter_mut().skip(1) {
        prop_assert_eq!(&replica.heads(), &first_heads);
        prop_assert_eq!(&replica.visit().expect("readable"), &first);
    }
    // The visit each replica works from is exactly what its document holds.
    for replica in replicas.iter_mut() {
        let reloaded = VisitDoc::load(&replica.save()).expect("saved replica loads");
        prop_assert_eq!(reloaded.visit().expect("readable"), replica.visit().expect("readable"));
    }
    let present = |ids: Vec<&String>, wanted: &BTreeSet<String>| -> Result<(), TestCaseError> {
        let ids: BTreeSet<&String> = ids.into_iter().collect();
        for id in wanted {
            prop_assert!(ids.contains(id), "{} is missing", id);
        }
        Ok(())
    };
    present(first.faults.iter().map(|f| &f.id).collect(), &added.faults)?;
    present(first.notes.iter().map(|n| &n.id).collect(), &added.notes)?;
    present(first.documents.iter().map(|d| &d.sha256).collect(), &added.documents)?;
    present(first.history.iter().map(|h| &h.id).collect(), &added.history)?;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn replicas_converge_and_lose_nothing((replicas, kind, actions) in scenario()) {
        check(replicas, kind, &actions)?;
    }
}
