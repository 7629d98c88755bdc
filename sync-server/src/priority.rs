//! Documents before photos, on the server too: a photo upload waits (a
//! bounded time) while visit pushes are being served, so that when many
//! agents sync at once the cores go to the documents the back office needs
//! first, not to the photos of the agents whose documents are already in.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Notify;

/// Pushes being served, and the uploads waiting for them.
#[derive(Debug, Default)]
pub struct DocumentsFirst {
    pushes: AtomicUsize,
    idle: Notify,
}

/// A push counted as being served until dropped.
#[derive(Debug)]
pub struct Serving(Arc<DocumentsFirst>);

impl Drop for Serving {
    fn drop(&mut self) {
        if self.0.pushes.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

impl DocumentsFirst {
    /// Counts a push as being served until the guard is dropped.
    pub fn serving(self: &Arc<Self>) -> Serving {
        self.pushes.fetch_add(1, Ordering::SeqCst);
        Serving(self.clone())
    }

    /// Waits until no push is being served, at most `limit`. Returns whether
    /// it waited for none (uploads never wait longer than `limit`).
    pub async fn wait_for_pushes(&self, limit: Duration) -> bool {
        let waited = tokio::time::timeout(limit, async {
            loop {
                let idle = self.idle.notified();
                tokio::pin!(idle);
                idle.as_mut().enable();
                if self.pushes.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        });
        waited.await.is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn uploads_wait_for_pushes_but_never_longer_than_the_limit() {
        let first = Arc::new(DocumentsFirst::default());
        assert!(first.wait_for_pushes(Duration::from_millis(10)).await, "nothing to wait for");
        let push = first.serving();
        let waiter = {
            let first = first.clone();
            tokio::spawn(async move { first.wait_for_pushes(Duration::from_secs(30)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "an upload waits while a push is served");
        drop(push);
        assert!(waiter.await.unwrap(), "and goes on once it is done");
        let _stuck = first.serving();
        assert!(!first.wait_for_pushes(Duration::from_millis(50)).await, "the limit holds");
    }
}
