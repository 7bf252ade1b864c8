//! Measures push throughput with group commit. Prints figures, asserts nothing.
//!
//! `cargo run --release -p plexus-storage --example throughput [events]`

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use plexus_storage::{Queue, Store, StoreOptions};

const PAYLOAD: usize = 256;
static BYTES: [u8; PAYLOAD] = [0x5a; PAYLOAD];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let events: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(200_000);
    let payload: &'static [u8] = &BYTES;
    println!(
        "{events} events of {PAYLOAD} bytes per run, default options (max_flush_delay 2 ms)\n"
    );

    for (threads, batch) in [(1, 100), (4, 100), (1, 1000)] {
        run(
            &format!("push_batch({batch}), {threads} thread(s)"),
            threads,
            events,
            move |q, i| {
                if i % batch == 0 {
                    let n = batch.min(events / threads - i);
                    q.push_batch((0..n).map(|k| ((i + k) as i64, payload)))
                        .map(|s| s.len())
                } else {
                    Ok(0)
                }
            },
        )?;
    }
    let single = events / 10;
    run(
        "push (waits for its flush), 8 threads",
        8,
        single,
        move |q, i| q.push(i as i64, payload).map(|_| 1),
    )?;
    run(
        "push, 1 thread (latency-bound)",
        1,
        single / 10,
        move |q, i| q.push(i as i64, payload).map(|_| 1),
    )?;
    run(
        "push_nowait, 1 thread, then one flush",
        1,
        events,
        move |q, i| q.push_nowait(i as i64, payload).map(|_| 1),
    )?;
    Ok(())
}

/// Runs `threads` threads each calling `step(queue, i)` for `i in 0..total/threads`.
fn run<F>(
    label: &str,
    threads: usize,
    total: usize,
    step: F,
) -> Result<(), Box<dyn std::error::Error>>
where
    F: Fn(&Queue, usize) -> plexus_storage::Result<usize> + Send + Sync + Clone + 'static,
{
    let dir = tempfile::tempdir()?;
    let store = Store::open(dir.path(), StoreOptions::default())?;
    let queue = store.queue("bench")?;
    let per_thread = total / threads;
    let barrier = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (queue, barrier, step) = (queue.clone(), Arc::clone(&barrier), step.clone());
            std::thread::spawn(move || -> plexus_storage::Result<usize> {
                barrier.wait();
                let mut pushed = 0;
                for i in 0..per_thread {
                    pushed += step(&queue, i)?;
                }
                Ok(pushed)
            })
        })
        .collect();
    barrier.wait();
    let started = Instant::now();
    let mut pushed = 0;
    for h in handles {
        pushed += h.join().map_err(|_| "pusher panicked")??;
    }
    queue.flush()?;
    let elapsed = started.elapsed();
    report(
        label,
        pushed,
        elapsed,
        store.flush_count(),
        store.size_on_disk()?,
    );
    assert_eq!(queue.len(), pushed as u64);
    Ok(())
}

fn report(label: &str, pushed: usize, elapsed: Duration, flushes: u64, disk: u64) {
    println!(
        "{label:<45} {pushed:>8} events in {:>7.3} s = {:>9.0} events/s, {flushes:>6} flushes, {:>5.1} MiB on disk",
        elapsed.as_secs_f64(),
        pushed as f64 / elapsed.as_secs_f64(),
        disk as f64 / (1024.0 * 1024.0)
    );
}
