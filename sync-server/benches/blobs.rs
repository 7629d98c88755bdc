//! What sealing blobs at rest costs: storing and reading a photo through
//! `BlobDir`, sealed and plain, at the sizes the server sees (a document
//! photo as the phone normalises it, a large one, and the blob limit).
//! Reads go through `BlobDir::read`, as the back office's photo, thumbnail
//! and certificate routes and the phone's download do: the file read, then
//! opened (sealed) or checked against its hash (plain). The files are in
//! the page cache, as a photo the desk has just looked at is, so the
//! figures are the server's own time, not the disk's. The first row of
//! each size is a plain file read as servers before sealing read it (the
//! bytes alone, unchecked). Prints one Markdown table.
//!
//! `cargo bench -p posfield-sync-server --bench blobs`.

// A benchmark binary reports on stdout.
#![allow(clippy::print_stdout, missing_docs)]

use std::time::{Duration, Instant};

use posfield_shared::BlobHash;
use posfield_sync_server::blob_key::BlobKeys;
use posfield_sync_server::blobs::BlobDir;

/// (what, bytes, reads timed)
const SIZES: [(&str, usize, usize); 3] = [
    ("document photo, 250 KB", 250 << 10, 400),
    ("large photo, 2 MB", 2 << 20, 100),
    ("the blob limit, 20 MB", 20 << 20, 12),
];

fn main() -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(run())
}

/// Bytes that do not compress or repeat.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

async fn run() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!(
        "| blob | stored | upload's last piece (verify, seal, fsync) ms | read median ms | read p99 ms | read MB/s |"
    );
    println!("|---|---|---|---|---|---|");
    for (what, len, reads) in SIZES {
        let bytes = noise(len);
        let sha = BlobHash::of(&bytes);
        let mut n = 0;
        for (mode, seal) in [("plain, read unchecked", false), ("plain", false), ("sealed", true)] {
            n += 1;
            let root = dir.path().join(format!("{len}-{n}"));
            let blobs = BlobDir::open(&root, BlobKeys::generate(), seal, 20 << 20)?;
            let body = axum::body::Body::from(bytes.clone()).into_data_stream();
            let started = Instant::now();
            let status = blobs
                .append(&sha, "bench", false, 0, len as u64, 20 << 20, body)
                .await
                .map_err(|e| anyhow::anyhow!("{}", e.message))?;
            let upload = started.elapsed();
            anyhow::ensure!(status.complete, "the upload did not complete");
            let mut times = Vec::with_capacity(reads);
            for _ in 0..reads {
                let started = Instant::now();
                let read = match mode {
                    "plain, read unchecked" => tokio::fs::read(blobs.path(&sha)).await?,
                    _ => blobs.read(&sha).await?,
                };
                times.push(started.elapsed());
                anyhow::ensure!(read.len() == len, "read {} bytes of {len}", read.len());
            }
            times.sort();
            let median = percentile(&times, 0.5);
            let rate = len as f64 / median.as_secs_f64() / 1e6;
            println!(
                "| {what} | {} | {} | {} | {} | {rate:.0} |",
                mode,
                ms(upload),
                ms(median),
                ms(percentile(&times, 0.99)),
            );
        }
    }
    Ok(())
}
