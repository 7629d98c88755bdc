//! Running a set of label photos through the reader as the app does, and
//! counting the answers: the acceptance test and the capture benchmark share
//! this.

use std::time::Instant;

use super::{HarderCase, label_photo};
use crate::{DecodeOptions, SerialAnswer, scan_serial};

/// What the reader answered for one photo, reduced to what decides the
/// verdict (two runs are compared on this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Sure of this serial.
    Sure(String),
    /// Unsure, offering these serials.
    Unsure(Vec<String>),
    /// No serial: nothing found, or nothing plausible (the error's words).
    NotRead(String),
}

/// How an answer stands against the label's real serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Sure, and right.
    SureRight,
    /// Sure, and wrong: the failure that must never happen.
    SureWrong,
    /// Unsure; whether the right serial is among the candidates.
    Unsure {
        /// The right serial is offered.
        offered: bool,
    },
    /// No serial read.
    NotRead,
}

/// One photo's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The case's name.
    pub name: String,
    /// What was answered.
    pub answer: Answer,
    /// How it stands.
    pub verdict: Verdict,
    /// The work spent.
    pub work: u64,
    /// Whether the safety net stopped the decode.
    pub capped: bool,
    /// The time taken, milliseconds (JPEG decoding included).
    pub millis: f64,
}

/// The counts over a set.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    /// Photos.
    pub total: usize,
    /// Sure and right.
    pub sure_right: usize,
    /// Sure and wrong.
    pub sure_wrong: usize,
    /// Unsure.
    pub unsure: usize,
    /// Unsure with the right serial among the candidates.
    pub unsure_offered: usize,
    /// No serial read.
    pub not_read: usize,
    /// Decodes the safety net stopped.
    pub capped: usize,
}

impl Tally {
    /// Counts the outcomes.
    pub fn of(outcomes: &[Outcome]) -> Tally {
        let mut tally = Tally { total: outcomes.len(), ..Tally::default() };
        for outcome in outcomes {
            match outcome.verdict {
                Verdict::SureRight => tally.sure_right += 1,
                Verdict::SureWrong => tally.sure_wrong += 1,
                Verdict::Unsure { offered } => {
                    tally.unsure += 1;
                    tally.unsure_offered += usize::from(offered);
                }
                Verdict::NotRead => tally.not_read += 1,
            }
            tally.capped += usize::from(outcome.capped);
        }
        tally
    }
}

/// Renders every case's photo, on `threads` threads.
pub fn render(cases: &[HarderCase], threads: usize) -> Vec<Vec<u8>> {
    parallel(cases.len(), threads, |i| label_photo(cases[i].seed, &cases[i].params))
}

/// Reads every photo as the app does (no expected terminal), on `threads`
/// threads.
pub fn answer(
    cases: &[HarderCase],
    photos: &[Vec<u8>],
    options: &DecodeOptions,
    threads: usize,
) -> Vec<Outcome> {
    parallel(cases.len(), threads, |i| {
        let started = Instant::now();
        let result = scan_serial(&photos[i], options, &[]);
        let millis = started.elapsed().as_secs_f64() * 1000.0;
        let right = posfield_shared::validate::serial(&cases[i].params.serial).unwrap_or_default();
        let (answer, work, capped) = match result {
            Ok(SerialAnswer { serial: Some(serial), work_spent, capped, .. }) => {
                (Answer::Sure(serial), work_spent, capped)
            }
            Ok(SerialAnswer { candidates, work_spent, capped, .. }) => {
                (Answer::Unsure(candidates.into_iter().map(|c| c.serial).collect()), work_spent, capped)
            }
            Err(error) => (Answer::NotRead(error.to_string()), 0, false),
        };
        let verdict = match &answer {
            Answer::Sure(serial) if *serial == right => Verdict::SureRight,
            Answer::Sure(_) => Verdict::SureWrong,
            Answer::Unsure(offered) => Verdict::Unsure { offered: offered.contains(&right) },
            Answer::NotRead(_) => Verdict::NotRead,
        };
        Outcome { name: cases[i].name.clone(), answer, verdict, work, capped, millis }
    })
}

/// `job(i)` for every `i` in `0..count`, on up to `threads` threads, in order.
fn parallel<T: Send>(count: usize, threads: usize, job: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let threads = threads.clamp(1, count.max(1));
    let mut slots: Vec<Option<T>> = (0..count).map(|_| None).collect();
    std::thread::scope(|scope| {
        let job = &job;
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || (t..count).step_by(threads).map(|i| (i, job(i))).collect::<Vec<_>>())
            })
            .collect();
        for worker in workers {
            for (i, value) in worker.join().expect("a worker panicked") {
                slots[i] = Some(value);
            }
        }
    });
    slots.into_iter().map(|slot| slot.expect("every index ran")).collect()
}
