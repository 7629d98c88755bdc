//! The runtime a samod repository runs on: the caller's tokio runtime, with
//! every task the repository spawns remembered so that it can be ended.
//!
//! samod 0.16's background tasks hold the repository's state and wait on
//! channels whose senders that state owns, so they never end by themselves,
//! not even after `Repo::stop()`: every repository ever built stayed in
//! memory with its documents (the server grew by about 180 KB for each visit
//! synced). Posfield builds a repository per connection, so once one has
//! stopped its tasks are aborted and its memory goes with them.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Spawns onto the current tokio runtime and keeps the tasks' abort handles.
#[derive(Debug, Clone)]
pub struct Tracked {
    handle: tokio::runtime::Handle,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Tracked {
    /// On the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn current() -> Tracked {
        Tracked { handle: tokio::runtime::Handle::current(), tasks: Arc::default() }
    }

    /// Aborts every task spawned so far (call it once the repository has stopped).
    pub fn end(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            task.abort();
        }
    }

    /// How many spawned tasks have not finished.
    #[cfg(test)]
    pub(crate) fn running(&self) -> usize {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner()).iter().filter(|t| !t.is_finished()).count()
    }
}

impl samod::runtime::RuntimeHandle for Tracked {
    fn spawn(&self, f: Pin<Box<dyn Future<Output = ()> + Send + 'static>>) {
        let task = self.handle.spawn(f);
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task.abort_handle());
    }

    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        Box::pin(tokio::time::sleep(duration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_stopped_repository_leaves_no_task_running_once_ended() {
        let runtime = Tracked::current();
        let repo = samod::Repo::build_tokio().with_runtime(runtime.clone()).load().await;
        repo.stop().await;
        // samod's own loops outlive stop(): this is what the wrapper is for.
        assert!(
            runtime.running() > 0,
            "samod's tasks ended by themselves; the wrapper may no longer be needed"
        );
        runtime.end();
        tokio::task::yield_now().await;
        for _ in 0..100 {
            if runtime.running() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(runtime.running(), 0);
    }
}
