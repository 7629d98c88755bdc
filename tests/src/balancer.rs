//! A TCP load balancer on 127.0.0.1 in front of several server nodes, the
//! way a reverse proxy without sticky sessions spreads phones: each new
//! client connection goes to the next backend in turn (round robin), and a
//! backend that refuses the connection is skipped for the next one, so any
//! request may land on any node and a killed node's share moves to the
//! others. Bytes are relayed as they are (HTTP and websockets alike).

use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How long a connection to a backend may take before it counts as refused.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The running balancer; it stops accepting when dropped.
#[derive(Debug)]
pub struct Balancer {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    backends: Vec<SocketAddr>,
    next: AtomicUsize,
    stopped: AtomicBool,
    /// Connections relayed to each backend, in the order of `backends`.
    served: Vec<AtomicUsize>,
    /// Client connections no backend took.
    refused: AtomicUsize,
}

impl Balancer {
    /// Starts a balancer in front of `backends` (`host:port` each).
    pub fn start(backends: &[String]) -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
        let addr = listener.local_addr().expect("its address");
        let backends: Vec<SocketAddr> = backends.iter().map(|b| b.parse().expect("host:port")).collect();
        let shared = Arc::new(Shared {
            served: backends.iter().map(|_| AtomicUsize::new(0)).collect(),
            backends,
            next: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            refused: AtomicUsize::new(0),
        });
        let accepting = shared.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                match accepting.connect() {
                    Some(server) => relay(client, server),
                    None => {
                        accepting.refused.fetch_add(1, Ordering::SeqCst);
                        let _ = client.shutdown(Shutdown::Both);
                    }
                }
            }
        });
        Balancer { addr, shared }
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn base(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Connections relayed so far to each backend, in the order given.
    pub fn served(&self) -> Vec<usize> {
        self.shared.served.iter().map(|n| n.load(Ordering::SeqCst)).collect()
    }

    /// Client connections that no backend took.
    pub fn refused(&self) -> usize {
        self.shared.refused.load(Ordering::SeqCst)
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accepting thread so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

impl Shared {
    /// A connection to the next backend in turn that takes one, trying each
    /// at most once.
    fn connect(&self) -> Option<TcpStream> {
        let count = self.backends.len();
        let first = self.next.fetch_add(1, Ordering::SeqCst);
        (0..count).find_map(|step| {
            let at = (first + step) % count;
            let server = TcpStream::connect_timeout(&self.backends[at], CONNECT_TIMEOUT).ok()?;
            self.served[at].fetch_add(1, Ordering::SeqCst);
            Some(server)
        })
    }
}

/// Copies bytes both ways until either side ends, then ends both.
fn relay(client: TcpStream, server: TcpStream) {
    for (from, to) in [(client.try_clone(), server.try_clone()), (server.try_clone(), client.try_clone())] {
        let (Ok(mut from), Ok(mut to)) = (from, to) else {
            let _ = client.shutdown(Shutdown::Both);
            let _ = server.shutdown(Shutdown::Both);
            return;
        };
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut from, &mut to);
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        });
    }
}
