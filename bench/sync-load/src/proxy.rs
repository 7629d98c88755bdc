//! A counting TCP proxy on 127.0.0.1: every byte between the clients and a
//! server passes through it and is counted, in both directions, by what it
//! carries.
//!
//! Counts are TCP payload bytes (HTTP heads and bodies, websocket frames),
//! not IP or TCP headers. For Posfield's server a connection's bytes are
//! put in a class by the path of the HTTP request that last started on it:
//! `/api/v1/blobs/...` is blob traffic, `/api/v1/sync/manifest` manifest
//! traffic, `/api/v1/sync/ws` (the sync websocket) document traffic,
//! anything else (enrolment) other. This works because HTTP/1.1 clients send a request only after the
//! previous answer (no pipelining), so a request always starts a fresh read,
//! and a websocket stays in the class of its upgrade request.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What a connection carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Class {
    /// Visit documents: the sync websocket (every byte of the reference).
    Documents = 0,
    /// Photo, signature image and strokes uploads.
    Blobs = 1,
    /// Anything else (enrolment, health checks).
    Other = 2,
    /// The manifest requests that come before Posfield's websocket.
    Manifest = 3,
}

const CLASSES: usize = 4;

/// How to class a connection by its request.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Classify {
    /// Posfield's routes, as described in the module documentation.
    PosfieldRoutes,
    /// Everything is document traffic (the reference has nothing else).
    AllDocuments,
}

/// Byte counters, by class and direction.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    up: [AtomicU64; CLASSES],
    down: [AtomicU64; CLASSES],
    connections: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// Client to server, by class.
    pub(crate) up: [u64; CLASSES],
    /// Server to client, by class.
    pub(crate) down: [u64; CLASSES],
    /// Connections accepted.
    pub(crate) connections: u64,
}

impl Snapshot {
    /// Bytes of a class, both directions.
    pub(crate) fn both(&self, class: Class) -> u64 {
        self.up[class as usize] + self.down[class as usize]
    }

    /// All bytes, both directions.
    pub(crate) fn total(&self) -> u64 {
        self.up.iter().chain(self.down.iter()).sum()
    }

    /// What was counted after `earlier`.
    pub(crate) fn since(&self, earlier: &Snapshot) -> Snapshot {
        let minus = |a: [u64; CLASSES], b: [u64; CLASSES]| std::array::from_fn(|i| a[i] - b[i]);
        Snapshot {
            up: minus(self.up, earlier.up),
            down: minus(self.down, earlier.down),
            connections: self.connections - earlier.connections,
        }
    }
}

impl Counters {
    pub(crate) fn snapshot(&self) -> Snapshot {
        let load = |a: &[AtomicU64; CLASSES]| std::array::from_fn(|i| a[i].load(Ordering::Relaxed));
        Snapshot {
            up: load(&self.up),
            down: load(&self.down),
            connections: self.connections.load(Ordering::Relaxed),
        }
    }
}

/// A running proxy.
#[derive(Debug)]
pub(crate) struct Proxy {
    /// Where clients connect.
    pub(crate) addr: SocketAddr,
    /// What has passed through.
    pub(crate) counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a proxy on a free port of 127.0.0.1 in front of `targets`: each
/// new connection goes to the next of them in turn (round robin), as a
/// load balancer in front of several server nodes sends it.
pub(crate) async fn start(targets: Vec<SocketAddr>, classify: Classify) -> std::io::Result<Proxy> {
    if targets.is_empty() {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "a proxy needs a target"));
    }
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let counters = Arc::new(Counters::default());
    let shared = counters.clone();
    let task = tokio::spawn(async move {
        let mut turn = 0usize;
        loop {
            let client = match listener.accept().await {
                Ok((client, _)) => client,
                // Out of file descriptors, say: the proxy goes on accepting
                // once some are given back, as a real balancer does.
                Err(e) => {
                    eprintln!("proxy: accepting a connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            shared.connections.fetch_add(1, Ordering::Relaxed);
            let counters = shared.clone();
            let target = targets[turn % targets.len()];
            turn = turn.wrapping_add(1);
            tokio::spawn(async move {
                match TcpStream::connect(target).await {
                    Ok(server) => relay(client, server, classify, counters).await,
                    Err(e) => eprintln!("proxy: connecting to {target} failed: {e}"),
                }
            });
        }
    });
    Ok(Proxy { addr, counters, task })
}

async fn relay(client: TcpStream, server: TcpStream, classify: Classify, counters: Arc<Counters>) {
    // Small websocket messages must not wait for Nagle's algorithm in the proxy.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let initial = match classify {
        Classify::PosfieldRoutes => Class::Other,
        Classify::AllDocuments => Class::Documents,
    };
    let class = Arc::new(AtomicU8::new(initial as u8));
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    let up = pump(client_read, server_write, Some(classify), class.clone(), counters.clone());
    let down = pump(server_read, client_write, None, class, counters);
    tokio::join!(up, down);
}

/// Copies one direction until it ends; `classify` is set on the client's side.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    classify: Option<Classify>,
    class: Arc<AtomicU8>,
    counters: Arc<Counters>,
) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(Classify::PosfieldRoutes) = classify
            && let Some(found) = request_class(&buffer[..n])
        {
            class.store(found as u8, Ordering::Relaxed);
        }
        let slot = usize::from(class.load(Ordering::Relaxed));
        let counter = if classify.is_some() { &counters.up[slot] } else { &counters.down[slot] };
        counter.fetch_add(n as u64, Ordering::Relaxed);
        if to.write_all(&buffer[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// The class of an HTTP request starting at `bytes`, if a request starts there.
fn request_class(bytes: &[u8]) -> Option<Class> {
    let methods: [&[u8]; 5] = [b"GET ", b"PUT ", b"POST ", b"HEAD ", b"DELETE "];
    let method = methods.iter().find(|m| bytes.starts_with(m))?;
    let path = &bytes[method.len()..];
    Some(if path.starts_with(b"/api/v1/blobs/") {
        Class::Blobs
    } else if path.starts_with(b"/api/v1/sync/manifest") {
        Class::Manifest
    } else if path.starts_with(b"/api/v1/sync/") {
        Class::Documents
    } else {
        Class::Other
    })
}

/// The proxy in a process of its own (this binary run with
/// `--serve-proxy`), for runs with so many agents that the clients' own
/// connections and files and the proxy's two descriptors per connection
/// do not fit in one process's limit. It says where it listens on its
/// first line, then answers each `snapshot` line on its input with the
/// counters, and ends when its input closes.
pub(crate) struct ProxyProcess {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
    /// Where clients connect.
    pub(crate) addr: SocketAddr,
}

impl ProxyProcess {
    /// Starts the proxy process in front of `targets`.
    pub(crate) fn spawn(targets: &[SocketAddr]) -> anyhow::Result<ProxyProcess> {
        use std::io::BufRead;
        let exe = std::env::current_exe()?;
        let list: Vec<String> = targets.iter().map(ToString::to_string).collect();
        let mut child = std::process::Command::new(exe)
            .args(["--serve-proxy", &list.join(",")])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        crate::started(child.id());
        let input = child.stdin.take().ok_or_else(|| anyhow::anyhow!("the proxy's input"))?;
        let mut output = std::io::BufReader::new(
            child.stdout.take().ok_or_else(|| anyhow::anyhow!("the proxy's output"))?,
        );
        let mut line = String::new();
        output.read_line(&mut line)?;
        let addr = line.trim().parse().map_err(|e| anyhow::anyhow!("the proxy said {line:?}: {e}"))?;
        Ok(ProxyProcess { child, input, output, addr })
    }

    /// The proxy process's id (its CPU time is the clients' side's).
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The counters now.
    pub(crate) fn snapshot(&mut self) -> anyhow::Result<Snapshot> {
        use std::io::{BufRead, Write};
        self.input.write_all(b"snapshot\n")?;
        self.input.flush()?;
        let mut line = String::new();
        self.output.read_line(&mut line)?;
        let numbers: Vec<u64> = line.split_whitespace().map(str::parse).collect::<Result<_, _>>()?;
        anyhow::ensure!(numbers.len() == 2 * CLASSES + 1, "the proxy's counters: {line:?}");
        Ok(Snapshot {
            up: std::array::from_fn(|i| numbers[i]),
            down: std::array::from_fn(|i| numbers[CLASSES + i]),
            connections: numbers[2 * CLASSES],
        })
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        crate::stopped(self.child.id());
    }
}

/// The `--serve-proxy` process: a proxy in front of `targets` (Posfield's
/// routes), as [`ProxyProcess`] describes.
pub(crate) fn serve(targets: &str) -> anyhow::Result<()> {
    use std::io::{BufRead, Write};
    let targets: Vec<SocketAddr> = targets.split(',').map(str::parse).collect::<Result<_, _>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build()?;
    let proxy = runtime.block_on(start(targets, Classify::PosfieldRoutes))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", proxy.addr)?;
    out.flush()?;
    for line in std::io::stdin().lock().lines() {
        if line?.trim() != "snapshot" {
            continue;
        }
        let now = proxy.counters.snapshot();
        let numbers: Vec<String> =
            now.up.iter().chain(now.down.iter()).chain([&now.connections]).map(ToString::to_string).collect();
        writeln!(out, "{}", numbers.join(" "))?;
        out.flush()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_classed_by_path_and_other_bytes_are_not_requests() {
        assert_eq!(request_class(b"PUT /api/v1/blobs/ab?offset=0 HTTP/1.1\r\n"), Some(Class::Blobs));
        assert_eq!(request_class(b"GET /api/v1/blobs/ab/status HTTP/1.1\r\n"), Some(Class::Blobs));
        assert_eq!(request_class(b"POST /api/v1/sync/manifest HTTP/1.1\r\n"), Some(Class::Manifest));
        assert_eq!(request_class(b"GET /api/v1/sync/ws HTTP/1.1\r\n"), Some(Class::Documents));
        assert_eq!(request_class(b"POST /api/v1/enroll HTTP/1.1\r\n"), Some(Class::Other));
        assert_eq!(request_class(&[0x82, 0xfe, 0x01, 0x00]), None);
        assert_eq!(request_class(b"\xff\xd8\xff\xe0 JFIF"), None);
    }

    #[tokio::test]
    async fn every_byte_is_counted_once_in_its_direction() {
        let echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let target = echo.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut socket, _) = echo.accept().await.unwrap();
            let mut buffer = [0u8; 1024];
            let n = socket.read(&mut buffer).await.unwrap();
            socket.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await.unwrap();
            assert!(n > 0);
        });
        let proxy = start(vec![target], Classify::PosfieldRoutes).await.unwrap();
        let mut client = TcpStream::connect(proxy.addr).await.unwrap();
        let request = b"POST /api/v1/sync/manifest HTTP/1.1\r\ncontent-length: 0\r\n\r\n";
        client.write_all(request).await.unwrap();
        let mut answer = Vec::new();
        client.read_to_end(&mut answer).await.unwrap();
        let counted = proxy.counters.snapshot();
        assert_eq!(counted.up[Class::Manifest as usize], request.len() as u64);
        assert_eq!(counted.down[Class::Manifest as usize], answer.len() as u64);
        assert_eq!(counted.total(), (request.len() + answer.len()) as u64);
    }
}
