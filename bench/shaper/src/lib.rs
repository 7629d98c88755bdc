//! A TCP proxy on 127.0.0.1 that carries the bytes between clients and one
//! server the way a poor mobile link would, in user space: nothing of the
//! machine's own network settings is touched, so it needs no privileges and
//! leaves every other connection alone.
//!
//! What it models, in each direction (up: client to server; down: server to
//! client):
//!
//! - **Bandwidth.** One link per direction, shared by every connection, as
//!   one radio link is: a segment goes on the link when the link is free and
//!   occupies it for `size / rate` (a token bucket with no depth, so nothing
//!   bursts past the rate). A segment is what one read of the sender's socket
//!   gives, at most [`SEGMENT`] bytes.
//! - **Latency.** A segment arrives half a round trip after it left the
//!   link, and a new connection's first bytes wait one round trip more (the
//!   handshake).
//! - **Loss, as TCP feels it.** A byte stream cannot lose bytes: TCP sends a
//!   lost segment again. So with probability `loss` a segment is held back
//!   by a retransmission timeout, the larger of the round trip and
//!   [`MIN_RETRANSMISSION_TIMEOUT`], doubled each time the same segment is
//!   lost again (at most [`MAX_LOSSES_IN_A_ROW`] times), and the segments
//!   behind it wait for it, as TCP delivers in order. A retransmission costs
//!   time, not link capacity; its bytes are counted apart.
//! - **Cuts.** Every `every`, all open connections are reset (both ends see
//!   a TCP reset) and for `outage` after that every new connection is reset
//!   as soon as it is accepted. What was in flight is lost, and the link's
//!   queue is emptied: it carries nothing for connections that are gone.
//!
//! A connection holds at most twice the bandwidth-delay product in flight
//! per direction (at least [`MIN_IN_FLIGHT`], about TCP's initial window),
//! so a sender feels the link through its socket as it would through TCP's
//! window, and a slow upload does not sit whole in the proxy's memory.
//!
//! The random draws come from a seeded generator per connection and
//! direction, so the same seed draws the same numbers; which bytes they hit
//! depends on how the sender's writes fall into segments. The counts say
//! what went over the link: bytes each way, segments lost, connections,
//! cuts and the connections they reset.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

#[cfg(test)]
mod tests;

/// The largest segment: one Ethernet-sized TCP payload.
pub const SEGMENT: usize = 1460;

/// The shortest retransmission timeout (Linux's `TCP_RTO_MIN`).
pub const MIN_RETRANSMISSION_TIMEOUT: Duration = Duration::from_millis(200);

/// How many times in a row one segment can be lost before it gets through.
pub const MAX_LOSSES_IN_A_ROW: u32 = 6;

/// The least a connection may hold in flight in one direction.
pub const MIN_IN_FLIGHT: usize = 16 * 1024;

/// How the link behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// Client to server, in bits per second; `None`: no limit.
    pub up_bits_per_second: Option<u64>,
    /// Server to client, in bits per second; `None`: no limit.
    pub down_bits_per_second: Option<u64>,
    /// The round trip: each direction takes half of it.
    pub round_trip: Duration,
    /// The chance that a segment is lost, from 0 up to (not including) 1.
    pub loss: f64,
    /// Cuts of every connection, if any.
    pub cuts: Option<Cuts>,
    /// The seed of the random draws.
    pub seed: u64,
}

/// Cuts of the link: every `every`, all connections are reset, and new ones
/// are reset for `outage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cuts {
    /// Time from the shaper's start to the first cut, and between cuts.
    pub every: Duration,
    /// How long after a cut new connections are reset.
    pub outage: Duration,
}

impl Link {
    /// A link that only passes bytes through: no limit, delay, loss or cut.
    #[must_use]
    pub const fn clear() -> Link {
        Link {
            up_bits_per_second: None,
            down_bits_per_second: None,
            round_trip: Duration::ZERO,
            loss: 0.0,
            cuts: None,
            seed: 1,
        }
    }

    /// How long a lost segment is held back the first time.
    #[must_use]
    pub fn retransmission_timeout(&self) -> Duration {
        self.round_trip.max(MIN_RETRANSMISSION_TIMEOUT)
    }

    /// Whether these settings describe a link at all.
    pub fn check(&self) -> Result<(), ShaperError> {
        // NaN is in no range, so it fails too.
        if !(0.0..1.0).contains(&self.loss) {
            return Err(ShaperError::Loss(self.loss));
        }
        for (direction, rate) in [("up", self.up_bits_per_second), ("down", self.down_bits_per_second)] {
            if rate == Some(0) {
                return Err(ShaperError::ZeroRate(direction));
            }
        }
        if let Some(Cuts { every, outage }) = self.cuts {
            if every.is_zero() {
                return Err(ShaperError::NoTimeBetweenCuts);
            }
            if outage >= every {
                return Err(ShaperError::OutageTooLong { every, outage });
            }
        }
        Ok(())
    }

    /// Bytes one connection may hold in flight in one direction: twice the
    /// bandwidth-delay product, at least [`MIN_IN_FLIGHT`].
    fn in_flight(&self, bits_per_second: Option<u64>) -> usize {
        let product =
            bits_per_second.map_or(0.0, |bits| bits as f64 / 8.0 * self.round_trip.as_secs_f64()) as usize;
        (2 * product).max(MIN_IN_FLIGHT)
    }
}

/// Settings that describe no link, or a shaper that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ShaperError {
    /// The loss is not a probability below 1.
    #[error("a loss of {0} is not a chance from 0 up to 1 (5 % is 0.05)")]
    Loss(f64),
    /// A rate of zero.
    #[error("the {0} rate of 0 bit/s carries nothing: leave the rate out for no limit")]
    ZeroRate(&'static str),
    /// Cuts with no time between them.
    #[error("cuts every 0 s leave no time between them")]
    NoTimeBetweenCuts,
    /// An outage that lasts until the next cut or beyond.
    #[error("an outage of {outage:?} does not end before the next cut, {every:?} after the last")]
    OutageTooLong {
        /// Time between cuts.
        every: Duration,
        /// The outage asked for.
        outage: Duration,
    },
    /// The shaper's runtime or port.
    #[error("cannot start the shaper: {0}")]
    Start(#[from] std::io::Error),
}

/// What has gone over the link so far.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Bytes carried from the clients to the server, once each.
    pub up_bytes: u64,
    /// Bytes carried from the server to the clients, once each.
    pub down_bytes: u64,
    /// Bytes the clients sent that have not reached the server: in flight
    /// now, or lost when a cut reset their connection (sent again by the
    /// client, if at all, as new bytes).
    pub up_undelivered: u64,
    /// The same from the server to the clients.
    pub down_undelivered: u64,
    /// Bytes sent again after a loss, client to server.
    pub up_retransmitted: u64,
    /// Bytes sent again after a loss, server to client.
    pub down_retransmitted: u64,
    /// Segments carried, both ways.
    pub segments: u64,
    /// Losses, both ways (a segment lost twice counts twice).
    pub losses: u64,
    /// Connections accepted, those reset during an outage included.
    pub connections: u64,
    /// Connections reset as soon as accepted, during an outage.
    pub refused: u64,
    /// Cuts so far.
    pub cuts: u64,
    /// Open connections the cuts reset.
    pub connections_cut: u64,
}

/// One cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cut {
    /// When it happened.
    pub at: std::time::Instant,
    /// Connections open at that moment (each of them reset).
    pub open_connections: usize,
}

/// A running shaper; dropping it stops it and closes its connections.
#[derive(Debug)]
pub struct Shaper {
    addr: SocketAddr,
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Shaper {
    /// Starts a shaper on a free port of 127.0.0.1 in front of `target`, on
    /// a runtime of its own (one thread), so that blocking clients and
    /// asynchronous ones alike can use it. The first cut comes `every` after
    /// this call.
    pub fn start(target: SocketAddr, link: Link) -> Result<Shaper, ShaperError> {
        link.check()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("posfield-shaper")
            .enable_all()
            .build()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = {
            let _inside = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let shared = Arc::new(Shared {
            target,
            link,
            up: Wire::new(link.up_bits_per_second),
            down: Wire::new(link.down_bits_per_second),
            counters: Counters::default(),
            cuts: Mutex::new(Vec::new()),
            outage_until: Mutex::new(None),
            cut_signal: watch::channel(0).0,
            open: AtomicUsize::new(0),
            next_connection: AtomicU64::new(0),
        });
        runtime.spawn(accept(listener, shared.clone()));
        if let Some(cuts) = link.cuts {
            runtime.spawn(cut_on_schedule(shared.clone(), cuts));
        }
        Ok(Shaper { addr, shared, runtime: Some(runtime) })
    }

    /// Where clients connect.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/`.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// The link it shapes like.
    #[must_use]
    pub fn link(&self) -> Link {
        self.shared.link
    }

    /// What has gone over the link so far.
    #[must_use]
    pub fn counts(&self) -> Counts {
        self.shared.counters.now()
    }

    /// Every cut so far, in order.
    #[must_use]
    pub fn cuts(&self) -> Vec<Cut> {
        self.shared.cuts.lock().map(|cuts| cuts.clone()).unwrap_or_default()
    }

    /// Connections open now.
    #[must_use]
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }
}

impl Drop for Shaper {
    fn drop(&mut self) {
        // Not a blocking shutdown: the shaper may be dropped inside another runtime.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// What the shaper's tasks share.
#[derive(Debug)]
struct Shared {
    target: SocketAddr,
    link: Link,
    up: Wire,
    down: Wire,
    counters: Counters,
    cuts: Mutex<Vec<Cut>>,
    /// The end of the current outage, if one is on.
    outage_until: Mutex<Option<Instant>>,
    /// Moves on at every cut; each connection watches it.
    cut_signal: watch::Sender<u64>,
    open: AtomicUsize,
    next_connection: AtomicU64,
}

impl Shared {
    fn wire(&self, side: Side) -> &Wire {
        match side {
            Side::Up => &self.up,
            Side::Down => &self.down,
        }
    }

    fn in_outage(&self) -> bool {
        self.outage_until.lock().is_ok_and(|until| until.is_some_and(|until| Instant::now() < until))
    }
}

/// A direction of the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Up = 0,
    Down = 1,
}

/// One direction's link, shared by every connection: when it is next free.
#[derive(Debug)]
struct Wire {
    bits_per_second: Option<u64>,
    free_at: Mutex<Instant>,
}

impl Wire {
    fn new(bits_per_second: Option<u64>) -> Wire {
        Wire { bits_per_second, free_at: Mutex::new(Instant::now()) }
    }

    /// Puts `bytes` on the link; returns when their last bit has left.
    fn transmit(&self, bytes: usize) -> Instant {
        let now = Instant::now();
        let Some(bits) = self.bits_per_second else {
            return now;
        };
        let time = Duration::from_secs_f64(bytes as f64 * 8.0 / bits as f64);
        let Ok(mut free_at) = self.free_at.lock() else {
            return now + time;
        };
        let done = (*free_at).max(now) + time;
        *free_at = done;
        done
    }

    /// Empties the queue: the link is free from now.
    fn flush(&self) {
        if let Ok(mut free_at) = self.free_at.lock() {
            *free_at = Instant::now();
        }
    }
}

#[derive(Debug, Default)]
struct Counters {
    /// Read from the sender.
    read: [AtomicU64; 2],
    /// Written to the receiver.
    delivered: [AtomicU64; 2],
    retransmitted: [AtomicU64; 2],
    segments: AtomicU64,
    losses: AtomicU64,
    connections: AtomicU64,
    refused: AtomicU64,
    cuts: AtomicU64,
    connections_cut: AtomicU64,
}

impl Counters {
    fn segment(&self, side: Side, bytes: usize, lost: u32) {
        let bytes = bytes as u64;
        self.read[side as usize].fetch_add(bytes, Ordering::Relaxed);
        self.retransmitted[side as usize].fetch_add(bytes * u64::from(lost), Ordering::Relaxed);
        self.segments.fetch_add(1, Ordering::Relaxed);
        self.losses.fetch_add(u64::from(lost), Ordering::Relaxed);
    }

    fn arrived(&self, side: Side, bytes: usize) {
        self.delivered[side as usize].fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn now(&self) -> Counts {
        let get = |counter: &AtomicU64| counter.load(Ordering::SeqCst);
        let (up, down) = (Side::Up as usize, Side::Down as usize);
        let delivered = [get(&self.delivered[up]), get(&self.delivered[down])];
        Counts {
            up_bytes: delivered[up],
            down_bytes: delivered[down],
            up_undelivered: get(&self.read[up]).saturating_sub(delivered[up]),
            down_undelivered: get(&self.read[down]).saturating_sub(delivered[down]),
            up_retransmitted: get(&self.retransmitted[up]),
            down_retransmitted: get(&self.retransmitted[down]),
            segments: get(&self.segments),
            losses: get(&self.losses),
            connections: get(&self.connections),
            refused: get(&self.refused),
            cuts: get(&self.cuts),
            connections_cut: get(&self.connections_cut),
        }
    }
}

/// The random draws of one connection's direction (xorshift64*): the same
/// seed, connection and direction give the same draws.
#[derive(Debug)]
struct Draws(u64);

impl Draws {
    fn new(seed: u64, connection: u64, side: Side) -> Draws {
        let mixed = seed ^ ((connection << 1) | side as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Draws(mixed.wrapping_mul(0xD129_1B4E_2A7C_93F5) | 1)
    }

    /// A number in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Counts a connection as open while it lives.
struct Open<'a>(&'a AtomicUsize);

impl<'a> Open<'a> {
    fn new(open: &'a AtomicUsize) -> Open<'a> {
        open.fetch_add(1, Ordering::SeqCst);
        Open(open)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Makes the socket's close a reset (RST) instead of an orderly end.
fn reset(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

async fn accept(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let client = match listener.accept().await {
            Ok((client, _)) => client,
            // Out of descriptors, say: accept again once some are back.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        shared.counters.connections.fetch_add(1, Ordering::Relaxed);
        if shared.in_outage() {
            shared.counters.refused.fetch_add(1, Ordering::Relaxed);
            reset(&client);
            continue;
        }
        // Watching from here on: a cut after the accept reaches this connection.
        let cut = shared.cut_signal.subscribe();
        let index = shared.next_connection.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(connection(shared.clone(), client, cut, index));
    }
}

async fn cut_on_schedule(shared: Arc<Shared>, cuts: Cuts) {
    let mut next = Instant::now() + cuts.every;
    loop {
        tokio::time::sleep_until(next).await;
        let now = Instant::now();
        if let Ok(mut until) = shared.outage_until.lock() {
            *until = Some(now + cuts.outage);
        }
        let open_connections = shared.open.load(Ordering::SeqCst);
        shared.cut_signal.send_modify(|generation| *generation += 1);
        shared.counters.cuts.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut log) = shared.cuts.lock() {
            log.push(Cut { at: now.into_std(), open_connections });
        }
        // What was queued belonged to connections that are gone.
        shared.up.flush();
        shared.down.flush();
        next += cuts.every;
    }
}

/// One client's connection: to the server, the handshake's round trip, then
/// both directions over the link until both end, the client fails, or a cut.
/// When the server fails (a reset, say), what it sent before still reaches
/// the client, then the client sees the reset: as TCP delivers in order.
async fn connection(shared: Arc<Shared>, client: TcpStream, mut cut: watch::Receiver<u64>, index: u64) {
    let _open = Open::new(&shared.open);
    let server = tokio::select! {
        server = TcpStream::connect(shared.target) => server.ok(),
        _ = cut.changed() => None,
    };
    let Some(server) = server else {
        reset(&client);
        return;
    };
    // Small writes (a websocket's messages) must not wait for Nagle here.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let broken = {
        let relay = async {
            tokio::time::sleep(shared.link.round_trip).await;
            let up = carry(&mut client_read, &mut server_write, &shared, Side::Up, index);
            let down = carry(&mut server_read, &mut client_write, &shared, Side::Down, index);
            let (mut up, mut down) = (std::pin::pin!(up), std::pin::pin!(down));
            let (mut up_done, mut down_done) = (false, false);
            loop {
                tokio::select! {
                    ended = &mut up, if !up_done => match ended {
                        // The server takes no more: what it sent still goes down.
                        Ok(()) | Err(Failed::Receiver) => up_done = true,
                        // The client is gone.
                        Err(Failed::Sender) => break true,
                    },
                    ended = &mut down, if !down_done => match ended {
                        Ok(()) => down_done = true,
                        // The server failed (after its last bytes went down), or the client.
                        Err(_) => break true,
                    },
                }
                if up_done && down_done {
                    break false;
                }
            }
        };
        tokio::select! {
            broken = relay => broken,
            _ = cut.changed() => {
                shared.counters.connections_cut.fetch_add(1, Ordering::Relaxed);
                true
            }
        }
    };
    if broken {
        // Both sides see a reset.
        reset(client_read.as_ref());
        reset(server_read.as_ref());
    }
}

/// Which end of a direction failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failed {
    /// Reading from the sender failed; what was read before was delivered.
    Sender,
    /// Writing to the receiver failed.
    Receiver,
}

/// Carries one direction until its sender ends: each segment goes over the
/// shared link, then half a round trip, then any retransmission timeouts,
/// and is delivered in order. When the sender ends, what is in flight is
/// delivered first; then the receiver is told the end (a FIN after an
/// orderly end; after a failure the caller resets the connection).
async fn carry(
    from: &mut OwnedReadHalf,
    to: &mut OwnedWriteHalf,
    shared: &Shared,
    side: Side,
    index: u64,
) -> Result<(), Failed> {
    let link = shared.link;
    let wire = shared.wire(side);
    let segments_in_flight = (link.in_flight(wire.bits_per_second) / SEGMENT).max(1);
    let (queue, mut arrivals) = mpsc::channel::<(Instant, Vec<u8>)>(segments_in_flight);
    let mut draws = Draws::new(link.seed, index, side);
    let one_way = link.round_trip / 2;
    let timeout = link.retransmission_timeout();
    let send = async move {
        // A local, so that it is dropped, closing the queue, when the sender ends.
        let queue = queue;
        let mut buffer = [0u8; SEGMENT];
        let mut last = Instant::now();
        loop {
            // Room in flight first: a full window holds the sender back.
            let Ok(slot) = queue.reserve().await else { break Ok(()) };
            let read = match from.read(&mut buffer).await {
                Ok(0) => break Ok(()),
                Ok(read) => read,
                Err(_) => break Err(Failed::Sender),
            };
            let mut arrives = wire.transmit(read) + one_way;
            let mut lost = 0;
            let mut wait = timeout;
            while lost < MAX_LOSSES_IN_A_ROW && draws.unit() < link.loss {
                arrives += wait;
                wait *= 2;
                lost += 1;
            }
            shared.counters.segment(side, read, lost);
            // In order: nothing overtakes a segment held back.
            arrives = arrives.max(last);
            last = arrives;
            slot.send((arrives, buffer[..read].to_vec()));
        }
    };
    let sent = {
        let deliver = async {
            while let Some((at, bytes)) = arrivals.recv().await {
                if at > Instant::now() {
                    tokio::time::sleep_until(at).await;
                }
                // Counted as handed over, so a reader that has them sees them counted.
                shared.counters.arrived(side, bytes.len());
                to.write_all(&bytes).await.map_err(|_| Failed::Receiver)?;
            }
            Ok::<(), Failed>(())
        };
        let (mut send, mut deliver) = (std::pin::pin!(send), std::pin::pin!(deliver));
        let mut sent = None;
        loop {
            tokio::select! {
                ended = &mut send, if sent.is_none() => sent = Some(ended),
                delivered = &mut deliver => {
                    delivered?;
                    break sent.unwrap_or(Ok(()));
                }
            }
        }
    };
    sent?;
    // The sender's orderly end, after its last byte.
    to.shutdown().await.map_err(|_| Failed::Receiver)
}
