//! Each property of the link, against real sockets on 127.0.0.1. The bounds
//! are the ones the model makes certain (a transfer cannot beat its rate, a
//! reply cannot beat the round trip); the upper limits only keep a broken
//! shaper from hanging the test.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::*;

/// Longest any one read of a test may wait.
const PATIENCE: Duration = Duration::from_secs(20);

/// A server on 127.0.0.1 that sends every connection's bytes back.
fn echo_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
    let addr = listener.local_addr().expect("its address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(PATIENCE));
                let Ok(mut reader) = stream.try_clone() else { return };
                let _ = std::io::copy(&mut reader, &mut stream);
            });
        }
    });
    addr
}

/// A server on 127.0.0.1 that reads every connection and says when `total`
/// bytes have arrived over all of them together.
fn sink_server(total: usize) -> (SocketAddr, mpsc::Receiver<Instant>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port on 127.0.0.1");
    let addr = listener.local_addr().expect("its address");
    let (done, arrived) = mpsc::channel();
    let received = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let (received, done) = (received.clone(), done.clone());
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(PATIENCE));
                let mut buffer = [0u8; 8192];
                while let Ok(read @ 1..) = stream.read(&mut buffer) {
                    if received.fetch_add(read, Ordering::SeqCst) + read >= total {
                        let _ = done.send(Instant::now());
                    }
                }
            });
        }
    });
    (addr, arrived)
}

fn connect(shaper: &Shaper) -> TcpStream {
    let stream = TcpStream::connect(shaper.addr()).expect("the shaper accepts");
    stream.set_read_timeout(Some(PATIENCE)).expect("a read timeout");
    stream.set_nodelay(true).expect("no Nagle");
    stream
}

/// Sends `bytes` and reads as many back.
fn echo(stream: &mut TcpStream, bytes: &[u8]) -> Vec<u8> {
    stream.write_all(bytes).expect("the shaper takes the bytes");
    let mut back = vec![0u8; bytes.len()];
    stream.read_exact(&mut back).expect("the echo comes back");
    back
}

/// Whether a read ended the way a reset connection ends it.
fn ended_by_reset(outcome: std::io::Result<usize>) -> bool {
    match outcome {
        Ok(0) => true,
        Ok(_) => false,
        Err(error) => matches!(error.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted),
    }
}

fn pattern(length: usize) -> Vec<u8> {
    (0..length).map(|i| (i * 31 % 251) as u8).collect()
}

#[test]
fn bytes_arrive_intact_and_in_order_through_loss_and_delay() {
    let link = Link {
        up_bits_per_second: Some(4_000_000),
        down_bits_per_second: Some(4_000_000),
        round_trip: Duration::from_millis(20),
        loss: 0.1,
        seed: 7,
        ..Link::clear()
    };
    let shaper = Shaper::start(echo_server(), link).expect("the shaper starts");
    let sent = pattern(100_000);
    let mut stream = connect(&shaper);
    let mut writer = stream.try_clone().expect("a second handle");
    let to_send = sent.clone();
    let writing = std::thread::spawn(move || writer.write_all(&to_send));
    let mut back = vec![0u8; sent.len()];
    stream.read_exact(&mut back).expect("every byte comes back");
    writing.join().expect("the writer").expect("every byte goes");
    assert!(back == sent, "the bytes came back changed or out of order");
    let counts = shaper.counts();
    assert_eq!((counts.up_bytes, counts.down_bytes), (100_000, 100_000));
    assert!(counts.losses > 0, "10 % of at least 138 segments: {counts:?}");
    assert_eq!(counts.up_retransmitted + counts.down_retransmitted > 0, counts.losses > 0);
}

#[test]
fn a_transfer_takes_at_least_its_size_over_the_rate_and_connections_share_the_link() {
    // Up: 400 kbit/s is 50,000 bytes a second; two connections at once
    // share it, so 2 x 30,000 bytes take at least 1.2 s.
    let (sink, arrived) = sink_server(60_000);
    let link = Link { up_bits_per_second: Some(400_000), ..Link::clear() };
    let shaper = Shaper::start(sink, link).expect("the shaper starts");
    let started = Instant::now();
    let writers: Vec<_> = (0..2)
        .map(|_| {
            let mut stream = connect(&shaper);
            std::thread::spawn(move || {
                stream.write_all(&pattern(30_000)).expect("the shaper takes the bytes");
                stream
            })
        })
        .collect();
    let done = arrived.recv_timeout(PATIENCE).expect("every byte arrives");
    let took = done - started;
    assert!(took >= Duration::from_millis(1_190), "60,000 bytes at 50,000 B/s in {took:?}");
    for writer in writers {
        drop(writer.join().expect("a writer"));
    }
    assert_eq!(shaper.counts().up_bytes, 60_000);

    // Down: 200 kbit/s is 25,000 bytes a second; the echo of 25,000 bytes
    // takes at least 1 s to come back.
    let link = Link { down_bits_per_second: Some(200_000), ..Link::clear() };
    let shaper = Shaper::start(echo_server(), link).expect("the shaper starts");
    let mut stream = connect(&shaper);
    let started = Instant::now();
    let back = echo(&mut stream, &pattern(25_000));
    let took = started.elapsed();
    assert_eq!(back, pattern(25_000));
    assert!(took >= Duration::from_millis(990), "25,000 bytes at 25,000 B/s in {took:?}");
}

#[test]
fn each_way_takes_half_the_round_trip_and_a_new_connection_a_round_trip_more() {
    let round_trip = Duration::from_millis(300);
    let shaper = Shaper::start(echo_server(), Link { round_trip, ..Link::clear() }).expect("starts");
    let started = Instant::now();
    let mut stream = connect(&shaper);
    assert_eq!(echo(&mut stream, b"a"), b"a");
    let first = started.elapsed();
    assert!(first >= 2 * round_trip, "handshake, there and back in {first:?}");
    let started = Instant::now();
    assert_eq!(echo(&mut stream, b"b"), b"b");
    let second = started.elapsed();
    assert!(second >= round_trip, "there and back in {second:?}");
    assert!(
        second < 2 * round_trip + Duration::from_secs(5),
        "no handshake on an open connection: {second:?}"
    );
}

/// Twenty echoes one after the other; returns the time they took and the
/// losses the shaper drew.
fn twenty_echoes(seed: u64) -> (Duration, u64) {
    let link = Link { loss: 0.3, seed, ..Link::clear() };
    let shaper = Shaper::start(echo_server(), link).expect("the shaper starts");
    let mut stream = connect(&shaper);
    let started = Instant::now();
    for n in 0..20u8 {
        let message = [n; 100];
        assert_eq!(echo(&mut stream, &message), message);
    }
    (started.elapsed(), shaper.counts().losses)
}

#[test]
fn a_lost_segment_is_held_back_by_a_retransmission_timeout_and_a_seed_loses_the_same() {
    let (took, losses) = twenty_echoes(11);
    assert!(losses > 0, "30 % of 40 segments");
    // One echo at a time: each loss holds its echo back by at least the
    // shortest retransmission timeout (the round trip here is zero).
    let least = MIN_RETRANSMISSION_TIMEOUT * u32::try_from(losses).expect("a few losses");
    assert!(took >= least, "{losses} losses in {took:?}");
    // The same seed, the same segments: the same losses.
    assert_eq!(twenty_echoes(11).1, losses);
}

#[test]
fn a_cut_resets_open_connections_and_new_ones_until_the_outage_ends() {
    let cuts = Cuts { every: Duration::from_secs(3), outage: Duration::from_secs(1) };
    let started = Instant::now();
    let shaper = Shaper::start(echo_server(), Link { cuts: Some(cuts), ..Link::clear() }).expect("starts");
    let mut live = connect(&shaper);
    assert_eq!(echo(&mut live, b"before the cut"), b"before the cut");
    let mut byte = [0u8; 1];
    assert!(ended_by_reset(live.read(&mut byte)), "the open connection is cut");
    let seen = Instant::now();
    assert!(seen - started >= cuts.every, "cut after {:?}", seen - started);
    // In the outage: accepted, then reset at once.
    let mut refused = connect(&shaper);
    let _ = refused.write_all(b"anyone there?");
    assert!(ended_by_reset(refused.read(&mut byte)), "a connection in the outage is reset");
    // After the outage (and before the next cut, 6 s in) the link works again.
    std::thread::sleep(
        (seen + cuts.outage + Duration::from_millis(300)).saturating_duration_since(Instant::now()),
    );
    let mut after = connect(&shaper);
    assert_eq!(echo(&mut after, b"after the outage"), b"after the outage");
    let counts = shaper.counts();
    assert!(counts.cuts >= 1 && counts.connections_cut >= 1 && counts.refused >= 1, "{counts:?}");
    let log = shaper.cuts();
    assert_eq!(log[0].open_connections, 1, "{log:?}");
    assert!(log[0].at - started >= cuts.every, "{log:?}");
}

#[test]
fn settings_that_describe_no_link_are_refused_saying_why() {
    let cases = [
        (Link { loss: 1.0, ..Link::clear() }, "a loss of 1 is not a chance from 0 up to 1"),
        (Link { loss: -0.1, ..Link::clear() }, "a loss of -0.1"),
        (Link { loss: f64::NAN, ..Link::clear() }, "a loss of NaN"),
        (Link { up_bits_per_second: Some(0), ..Link::clear() }, "the up rate of 0 bit/s carries nothing"),
        (Link { down_bits_per_second: Some(0), ..Link::clear() }, "the down rate of 0 bit/s"),
        (
            Link { cuts: Some(Cuts { every: Duration::ZERO, outage: Duration::ZERO }), ..Link::clear() },
            "cuts every 0 s",
        ),
        (
            Link {
                cuts: Some(Cuts { every: Duration::from_secs(10), outage: Duration::from_secs(10) }),
                ..Link::clear()
            },
            "an outage of 10s does not end before the next cut, 10s after the last",
        ),
    ];
    for (link, expected) in cases {
        let error = Shaper::start(echo_server(), link).expect_err("refused");
        assert!(error.to_string().contains(expected), "{link:?}: {error}");
    }
    assert!(Link::clear().check().is_ok());
}
