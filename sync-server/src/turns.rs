//! Whose turn it is to project a visit or decide on the register.
//!
//! A projection reads a visit's stored document and projection row, works
//! out the new row and writes it: two of the same visit at once could write
//! an older row over a newer one, so they take turns per visit
//! ([`VisitTurns`]). Pushes of different visits do not wait for one
//! another. The desk's decisions that plan from what the register holds
//! (approvals, application decisions, check-ins, the register import) take
//! the register's turn too ([`Turns::register`]), always before any visit's,
//! and visits are always taken in id order, so no two holders wait for each
//! other.
//!
//! The turns in this table are per process: they order the work of one
//! server node. On a store several nodes share, a visit's turn is also
//! held against the other nodes (`Store::hold_visits`: PostgreSQL advisory
//! locks), taken after this process's own, so a node waits for the others
//! with one connection at most per projection. What several nodes must not
//! do to the register at once is for the store to refuse
//! (`StoreError::RegisterChanged`).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError, Weak};

use tokio::sync::OwnedMutexGuard;

use crate::store::{HeldVisits, Store, StoreError};

/// Above this many entries the table of visit turns drops those no one holds.
const PRUNE_ABOVE: usize = 1024;

/// The server's turns: the register's, and one per visit.
#[derive(Debug, Default)]
pub struct Turns {
    register: tokio::sync::Mutex<()>,
    visits: Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>,
    /// The store whose other nodes a visit's turn is held against.
    across: Option<Arc<dyn Store>>,
}

/// Turns held on visits; dropping it gives them back.
#[derive(Debug)]
pub struct VisitTurns {
    /// Given back first: the other nodes do not wait on this one's queue.
    _across: HeldVisits,
    _held: Vec<OwnedMutexGuard<()>>,
}

impl Turns {
    /// Turns whose visits are also held against the other nodes on `store`.
    pub fn across(store: Arc<dyn Store>) -> Turns {
        Turns { across: Some(store), ..Turns::default() }
    }

    /// Waits for the register's turn. Take it before any visit's.
    pub async fn register(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.register.lock().await
    }

    /// Waits for the turns of `ids` (each once, in id order), this
    /// process's and then the other nodes'; fails when the store cannot
    /// tell (its database is out of reach).
    pub async fn visits<'a>(&self, ids: impl IntoIterator<Item = &'a str>) -> Result<VisitTurns, StoreError> {
        let ids: BTreeSet<&str> = ids.into_iter().collect();
        let mutexes: Vec<Arc<tokio::sync::Mutex<()>>> = {
            let mut table = self.visits.lock().unwrap_or_else(PoisonError::into_inner);
            if table.len() > PRUNE_ABOVE {
                table.retain(|_, turn| turn.strong_count() > 0);
            }
            ids.iter()
                .map(|id| match table.get(*id).and_then(Weak::upgrade) {
                    Some(turn) => turn,
                    None => {
                        let turn = Arc::new(tokio::sync::Mutex::new(()));
                        table.insert((*id).to_owned(), Arc::downgrade(&turn));
                        turn
                    }
                })
                .collect()
        };
        let mut held = Vec::with_capacity(mutexes.len());
        for turn in mutexes {
            held.push(turn.lock_owned().await);
        }
        let across = match &self.across {
            Some(store) => {
                let ids: Vec<String> = ids.iter().map(|id| (*id).to_owned()).collect();
                store.hold_visits(&ids).await?
            }
            None => HeldVisits::default(),
        };
        Ok(VisitTurns { _across: across, _held: held })
    }

    /// The visit turns the table keeps now (held or not yet pruned).
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.visits.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const A: &str = "0a1b2c3d-0000-4000-8000-000000000001";
    const B: &str = "0a1b2c3d-0000-4000-8000-000000000002";

    async fn waits(turn: impl std::future::Future) -> bool {
        tokio::time::timeout(Duration::from_millis(200), turn).await.is_err()
    }

    #[tokio::test]
    async fn a_visit_waits_only_for_itself() {
        let turns = Turns::default();
        let held = turns.visits([A]).await.unwrap();
        assert!(!waits(turns.visits([B])).await, "another visit waited");
        assert!(waits(turns.visits([A])).await, "the same visit did not wait");
        assert!(waits(turns.visits([B, A])).await, "a set holding the visit did not wait");
        drop(held);
        assert!(!waits(turns.visits([B, A, A])).await, "a visit given back still waited");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sets_taken_in_any_order_never_wait_for_each_other() {
        let turns = Arc::new(Turns::default());
        let mut tasks = Vec::new();
        for round in 0..200 {
            let turns = turns.clone();
            tasks.push(tokio::spawn(async move {
                let ids = if round % 2 == 0 { [A, B] } else { [B, A] };
                let _held = turns.visits(ids).await.unwrap();
                tokio::task::yield_now().await;
            }));
        }
        let all = futures::future::join_all(tasks);
        let done = tokio::time::timeout(Duration::from_secs(10), all).await.expect("the turns deadlocked");
        assert!(done.into_iter().all(|task| task.is_ok()));
    }

    #[tokio::test]
    async fn turns_no_one_holds_are_dropped_from_the_table() {
        let turns = Turns::default();
        let held = turns.visits([A]).await.unwrap();
        for n in 0..=PRUNE_ABOVE {
            let id = format!("visit-{n}");
            drop(turns.visits([id.as_str()]).await.unwrap());
        }
        let _next = turns.visits([B]).await.unwrap();
        assert!(turns.kept() <= 3, "{} turns kept: the table is not pruned", turns.kept());
        assert!(waits(turns.visits([A])).await, "a held turn was dropped");
        drop(held);
    }
}
