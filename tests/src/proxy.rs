//! A TCP proxy on 127.0.0.1 that cuts connections at random points, the way
//! a phone's network does: each connection may carry a random number of
//! bytes (both directions together), then both sides are shut down. With
//! cutting off it is a byte counter on the wire.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

/// The running proxy; it stops accepting when dropped.
#[derive(Debug)]
pub struct CuttingProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    upstream: SocketAddr,
    cutting: AtomicBool,
    stopped: AtomicBool,
    rng: AtomicU64,
    max_budget: u64,
    connections: AtomicUsize,
    cut: AtomicUsize,
    bytes: AtomicU64,
}

impl CuttingProxy {
    /// Starts a proxy in front of `upstream` (`host:port`). With cutting on,
    /// each connection is cut after a number of bytes drawn from a fixed-seed
    /// generator between 1 and `max_budget`.
    pub fn start(upstream: &str, seed: u64, max_budget: u64) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
        let addr = listener.local_addr().expect("its address");
        let shared = Arc::new(Shared {
            upstream: upstream.parse().expect("host:port"),
            cutting: AtomicBool::new(true),
            stopped: AtomicBool::new(false),
            rng: AtomicU64::new(seed.max(1)),
            max_budget: max_budget.max(1),
            connections: AtomicUsize::new(0),
            cut: AtomicUsize::new(0),
            bytes: AtomicU64::new(0),
        });
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(accepting.upstream) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                accepting.connections.fetch_add(1, Ordering::SeqCst);
                let budget = if accepting.cutting.load(Ordering::SeqCst) {
                    1 + accepting.next() % accepting.max_budget
                } else {
                    u64::MAX
                };
                relay(client, server, budget, accepting.clone());
            }
        });
        CuttingProxy { addr, shared }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Turns cutting on or off for connections opened from now on.
    pub fn set_cutting(&self, on: bool) {
        self.shared.cutting.store(on, Ordering::SeqCst);
    }

    /// Bytes relayed so far, both directions together.
    pub fn bytes(&self) -> u64 {
        self.shared.bytes.load(Ordering::SeqCst)
    }

    /// Connections relayed so far, and how many of them were cut.
    pub fn counts(&self) -> (usize, usize) {
        (self.shared.connections.load(Ordering::SeqCst), self.shared.cut.load(Ordering::SeqCst))
    }
}

impl Drop for CuttingProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accepting thread so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

impl Shared {
    fn next(&self) -> u64 {
        // xorshift64: fixed seed, reproducible cuts.
        let mut x = self.rng.load(Ordering::SeqCst);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.store(x, Ordering::SeqCst);
        x
    }
}

fn relay(client: TcpStream, server: TcpStream, budget: u64, shared: Arc<Shared>) {
    let left = Arc::new(AtomicU64::new(budget));
    let pairs = [(client.try_clone(), server.try_clone()), (server.try_clone(), client.try_clone())];
    for (from, to) in pairs {
        let (Ok(mut from), Ok(mut to)) = (from, to) else { return };
        let (left, shared) = (left.clone(), shared.clone());
        let (a, b) = (client.try_clone(), server.try_clone());
        std::thread::spawn(move || {
            let mut buffer = [0u8; 8192];
            loop {
                let n = match from.read(&mut buffer) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let before = left.fetch_sub(n as u64, Ordering::SeqCst);
                let allowed = before.min(n as u64) as usize;
                if allowed < n {
                    // Over budget: pass what fits, then cut both ways.
                    let _ = to.write_all(&buffer[..allowed]);
                    left.store(0, Ordering::SeqCst);
                    if before > 0 {
                        shared.cut.fetch_add(1, Ordering::SeqCst);
                    }
                    break;
                }
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
                shared.bytes.fetch_add(n as u64, Ordering::SeqCst);
            }
            for side in [a, b].into_iter().flatten() {
                let _ = side.shutdown(Shutdown::Both);
            }
        });
    }
}
