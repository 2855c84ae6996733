//! Criterion benches for cloudcard; run them with `cargo bench -p cloudcard-benches`.
//!
//! Each bench group measures a cloudcard operation beside the raw primitive it is built on (a
//! hand-written loop, a regex scanner, raw HMAC, AES-GCM or argon2id), so that its cost reads
//! as a ratio to that baseline. This library holds what the benches share: a counting
//! allocator for the memory figures, and the timing of single calls for the tail figures; and
//! [`ratios`], which reads the last run's medians back and sets each bench over its baselines
//! (`cargo run -p cloudcard-benches --example ratios`).
#![allow(unsafe_code)]

pub mod ratios;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// A global allocator that forwards to the system allocator and counts live heap bytes, so a
/// bench can report what a stored record costs. Counting can be switched off, so that timed
/// work does not pay a shared atomic add on every allocation that production would not.
#[derive(Debug)]
pub struct CountingAllocator {
    live: AtomicIsize,
    on: AtomicBool,
}

impl CountingAllocator {
    /// A counter at zero, counting.
    #[must_use]
    pub const fn new() -> Self {
        Self { live: AtomicIsize::new(0), on: AtomicBool::new(true) }
    }

    /// Heap bytes allocated and not yet freed, while counting was on.
    pub fn live_bytes(&self) -> isize {
        self.live.load(Ordering::Relaxed)
    }

    /// Stops counting for good (the count no longer means anything after): for the timed
    /// part of a bench, once its memory figures are taken.
    pub fn stop(&self) {
        self.on.store(false, Ordering::Relaxed);
    }
}

impl Default for CountingAllocator {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; only a counter is added.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if self.on.load(Ordering::Relaxed) {
            self.live.fetch_add(layout.size().cast_signed(), Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if self.on.load(Ordering::Relaxed) {
            self.live.fetch_sub(layout.size().cast_signed(), Ordering::Relaxed);
        }
        // SAFETY: the caller's contract for `dealloc` is passed on as is.
        unsafe { System.dealloc(ptr, layout) }
    }
}

/// One workload for [`thread_rates`]: `work(thread, i)` for `i` below `n`.
#[allow(missing_debug_implementations, reason = "a closure has no Debug")]
pub struct Workload<'a> {
    /// How many calls make a whole measure (a fifth of them a round).
    pub n: usize,
    /// One call: the thread (0 alone; 1 and 2 at once, so each may use its own inputs) and `i`.
    pub work: &'a (dyn Fn(usize, usize) + Sync),
}

/// What [`thread_rates`] measures of one workload, in calls per second: medians of its rounds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Rates {
    /// On one thread.
    pub one: f64,
    /// On two threads at once: their calls over the time from the first one's start to the
    /// last one's end.
    pub two: f64,
    /// On two threads at once, each thread's calls over its own time, summed. The machine (its
    /// scheduler, or the host under a virtual machine) may start one of them milliseconds after
    /// the other, or stop it for a while (up to 4 and 15 ms of a 150 ms round, measured); the
    /// work shares nothing then, and this figure leaves those moments out, where [`Self::two`]
    /// counts them as time both had.
    pub two_each: f64,
}

impl Rates {
    /// Two threads' speed over one thread's, by the time from first start to last end.
    #[must_use]
    pub fn speedup(&self) -> f64 {
        self.two / self.one
    }

    /// Two threads' speed over one thread's, by each thread's own time.
    #[must_use]
    pub fn speedup_each(&self) -> f64 {
        self.two_each / self.one
    }

    /// The figures as a bench prints them, `unit` naming what one call is.
    #[must_use]
    pub fn describe(&self, unit: &str) -> String {
        format!(
            "{:.0} {unit}/s on 1 thread, {:.0}/s on 2: {:.2}x ({:.0}/s, {:.2}x, by each thread's \
             own time)",
            self.one,
            self.two,
            self.speedup(),
            self.two_each,
            self.speedup_each()
        )
    }
}

/// What a workload and its baseline do on one thread and on two: `(work, base)`. The calls
/// are made in five rounds; each round runs a fifth of the workload's `i`s on one thread, then
/// the baseline's, then the workload's on two, then the baseline's, and the medians are
/// returned. Taken in turn, both see the same machine: on a virtual machine the second CPU is
/// not always there, and a baseline measured a second later may not have the one the workload
/// had. The two threads of a round wait for each other before either starts its clock, so that
/// how soon the second is given a CPU of its own is not in the figure.
pub fn thread_rates(work: &Workload<'_>, base: &Workload<'_>) -> (Rates, Rates) {
    const ROUNDS: usize = 5;
    warm_two_cpus();
    let (mut work_rounds, mut base_rounds) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let inputs = |w: &Workload<'_>| round * w.n / ROUNDS..(round + 1) * w.n / ROUNDS;
        let (work_one, base_one) = (alone(work, inputs(work)), alone(base, inputs(base)));
        let ((work_two, work_each), (base_two, base_each)) =
            (two_at_once(work, inputs(work)), two_at_once(base, inputs(base)));
        work_rounds.push(Rates { one: work_one, two: work_two, two_each: work_each });
        base_rounds.push(Rates { one: base_one, two: base_two, two_each: base_each });
    }
    (medians(&work_rounds), medians(&base_rounds))
}

/// Each figure's median over `rounds`, apart.
fn medians(rounds: &[Rates]) -> Rates {
    let median = |figure: fn(&Rates) -> f64| {
        let mut rates: Vec<f64> = rounds.iter().map(figure).collect();
        rates.sort_by(f64::total_cmp);
        rates.get(rates.len() / 2).copied().unwrap_or_default()
    };
    Rates { one: median(|r| r.one), two: median(|r| r.two), two_each: median(|r| r.two_each) }
}

/// Calls per second of `inputs` of `w` on thread 0.
fn alone(w: &Workload<'_>, inputs: std::ops::Range<usize>) -> f64 {
    let calls = inputs.len() as f64;
    let start = std::time::Instant::now();
    for i in inputs {
        (w.work)(0, i);
    }
    calls / start.elapsed().as_secs_f64()
}

/// Calls per second of `inputs` of `w` on threads 1 and 2 at once, each making all of them:
/// over the time from the first start to the last end, and each thread's over its own time,
/// summed.
fn two_at_once(w: &Workload<'_>, inputs: std::ops::Range<usize>) -> (f64, f64) {
    let calls = inputs.len() as f64;
    let ready = std::sync::Barrier::new(2);
    let spawned = std::time::Instant::now();
    let spans: Vec<(std::time::Instant, std::time::Instant)> = std::thread::scope(|s| {
        let threads: Vec<_> = (1..=2)
            .map(|t| {
                let (ready, inputs) = (&ready, inputs.clone());
                s.spawn(move || {
                    ready.wait();
                    let start = std::time::Instant::now();
                    inputs.for_each(|i| (w.work)(t, i));
                    (start, std::time::Instant::now())
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let first = spans.iter().map(|&(start, _)| start).min().unwrap_or(spawned);
    let last = spans.iter().map(|&(_, end)| end).max().unwrap_or(first);
    let each = spans.iter().map(|&(start, end)| calls / (end - start).as_secs_f64()).sum();
    (2.0 * calls / (last - first).as_secs_f64(), each)
}

/// Keeps two threads busy for half a second. On a virtual machine the second CPU may not run
/// alongside the first for the first few hundred milliseconds two threads want it (two
/// threads' work then takes as long as one's); a two-thread figure is taken after this, as a
/// criterion measurement is taken after its warm-up.
pub fn warm_two_cpus() {
    let until = std::time::Instant::now() + std::time::Duration::from_millis(500);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(move || {
                let mut x = 0u64;
                while std::time::Instant::now() < until {
                    for _ in 0..1_000 {
                        x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005) + 1);
                    }
                }
            });
        }
    });
}

/// Writes one byte in every page of `bytes` of heap and gives nearly all of it back to the
/// allocator, which keeps it: on a virtual machine whose memory the host has not yet handed
/// over, the first write to each page stalls for tens of microseconds (the guest sees no page
/// fault of its own), and so does a page the process unmapped, which the host may take back.
/// A bench that times calls while its data grows runs after this, so the figure is the
/// code's, not the host's: the growth is given pages already written, as a service that has
/// run a while reuses what it freed.
///
/// The memory is taken in pieces below the allocator's threshold for mapping a block of its
/// own, so they come from its heap and stay there when freed (one large block would be
/// unmapped whole). One piece in 256 is kept for good, so that no run of freed pieces lies at
/// the top of a heap, where the allocator would hand it back to the system.
pub fn touch_memory(bytes: usize) {
    const PIECE: usize = 64 << 10;
    // The runs freed between kept pieces (16 MiB) hold any block the allocator serves from its
    // heap, and a thread's heap (64 MiB) keeps most of its pages.
    const KEPT_EVERY: usize = 256;
    let pieces: Vec<Vec<u8>> = (0..bytes / PIECE).map(|_| vec![1u8; PIECE]).collect();
    for (i, piece) in pieces.into_iter().enumerate() {
        if i % KEPT_EVERY == KEPT_EVERY - 1 {
            std::hint::black_box(piece.leak());
        }
    }
}

/// [`touch_memory`] for the next `threads` threads a bench starts: each of as many threads
/// touches `bytes` and ends. The allocator keeps a heap (an arena) for each thread, and gives
/// the arena of a thread that ended to the next thread that starts, written pages and all; so
/// two threads timed while they grow a store are given pages already written too.
pub fn touch_memory_for_threads(threads: usize, bytes: usize) {
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(move || touch_memory(bytes));
        }
    });
}

/// A call and its baseline timed in turn, block by block: see [`in_turn`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InTurn {
    /// The median of the rounds' ratios (the call's time over the baseline's).
    pub ratio: f64,
    /// The rounds' lower and upper quartile of that ratio.
    pub quartiles: (f64, f64),
    /// The medians of the rounds' nanoseconds a call, the call's and the baseline's.
    pub nanos: (f64, f64),
}

impl InTurn {
    /// The figures as a bench prints them.
    #[must_use]
    pub fn describe(&self) -> String {
        format!(
            "{:.2}x its baseline in turn (quartiles {:.2}-{:.2}x; {:.0} / {:.0} ns a call, \
             medians of {} rounds)",
            self.ratio,
            self.quartiles.0,
            self.quartiles.1,
            self.nanos.0,
            self.nanos.1,
            IN_TURN_ROUNDS
        )
    }
}

/// How many rounds [`in_turn`] takes, each of a block of calls and a block of baselines.
pub const IN_TURN_ROUNDS: usize = 41;

/// A call and its baseline timed in turn: in each of [`IN_TURN_ROUNDS`] rounds, a block of
/// calls and a block of baselines one after the other (the call first in even rounds, the
/// baseline first in odd ones), each block's `block` inputs made untimed just before it
/// (`make_work`, `make_base`), as criterion's batches are, and its outputs dropped after its
/// clock stops.
///
/// Criterion times a group's functions one after another, seconds apart, and this project's
/// virtual machines drift within the minute: the same baseline has run 70% apart from one
/// bench to the next. A ratio of two figures timed seconds apart moves with that drift; a
/// ratio taken round by round, the two a few hundred microseconds apart, sees the same
/// machine in both. But each block also meets the caches as the other side left them: fair
/// where both read memory no cache holds (a million cards) or the same memory (a text), not
/// where a baseline's table would stay in a cache between its own batches (ten thousand).
pub fn in_turn<I, O, J, P>(
    block: usize,
    mut make_work: impl FnMut() -> I,
    mut work: impl FnMut(I) -> O,
    mut make_base: impl FnMut() -> J,
    mut base: impl FnMut(J) -> P,
) -> InTurn {
    let block = block.max(1);
    let mut rounds = Vec::with_capacity(IN_TURN_ROUNDS);
    for round in 0..IN_TURN_ROUNDS {
        // Each block right after its own inputs are made, as criterion's batches run.
        let mut time_work = || time_block((0..block).map(|_| make_work()).collect(), &mut work);
        let mut time_base = || time_block((0..block).map(|_| make_base()).collect(), &mut base);
        let (w, b) = if round % 2 == 0 {
            let w = time_work();
            (w, time_base())
        } else {
            let b = time_base();
            (time_work(), b)
        };
        rounds.push((w / b, w, b));
    }
    // The `q`th quartile of one figure over the rounds (the second is the median).
    let quartile = |figure: fn(&(f64, f64, f64)) -> f64, q: usize| {
        let mut figures: Vec<f64> = rounds.iter().map(figure).collect();
        figures.sort_by(f64::total_cmp);
        figures.get(figures.len() * q / 4).copied().unwrap_or_default()
    };
    InTurn {
        ratio: quartile(|r| r.0, 2),
        quartiles: (quartile(|r| r.0, 1), quartile(|r| r.0, 3)),
        nanos: (quartile(|r| r.1, 2), quartile(|r| r.2, 2)),
    }
}

/// The nanoseconds a call of `f` takes over `inputs`, each called in turn; the outputs are
/// dropped after the clock stops.
fn time_block<I, O>(inputs: Vec<I>, f: &mut impl FnMut(I) -> O) -> f64 {
    let calls = inputs.len().max(1) as f64;
    let mut out = Vec::with_capacity(inputs.len());
    let start = std::time::Instant::now();
    out.extend(inputs.into_iter().map(f));
    let elapsed = start.elapsed();
    drop(std::hint::black_box(out));
    elapsed.as_secs_f64() * 1e9 / calls
}

/// The nanoseconds `f` takes.
pub fn time_ns(f: impl FnOnce()) -> u64 {
    let start = std::time::Instant::now();
    f();
    u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Each of `per_thread` calls of `work` timed alone, in nanoseconds, on each of `threads`
/// threads at once, and after each a call of `base` (the baseline) timed alike: `(work's,
/// base's)`. Thread `t` makes the calls `threads × k + t`, so together they make every call
/// below `threads × per_thread` once. What one caller waits while another grows a shared store
/// shows in the tail.
///
/// Taken in turn, call by call, the two see the same moments of the machine: a pause (the
/// timed thread switched out for another process, or its virtual CPU stopped by the host)
/// strikes either in proportion to its time. A baseline timed after the work meets other
/// moments: on this project's virtual machine, about one run in four of the risk bench's
/// growth had single `record()` calls of 1-5 ms while the baseline timed after it had none
/// over 0.2 ms. In a run traced with `sched:sched_switch`, each of its three calls over 0.3 ms
/// began as the scheduler switched the thread out for another service of the machine.
pub fn timed_calls(
    threads: usize,
    per_thread: usize,
    work: &(dyn Fn(usize) + Sync),
    base: &(dyn Fn(usize) + Sync),
) -> (Vec<u64>, Vec<u64>) {
    std::thread::scope(|scope| {
        let spawned: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || {
                    (0..per_thread)
                        .map(|k| {
                            let i = threads * k + t;
                            (time_ns(|| work(i)), time_ns(|| base(i)))
                        })
                        .collect::<Vec<(u64, u64)>>()
                })
            })
            .collect();
        spawned
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .unzip()
    })
}

/// The median, p99.9 and worst of single calls timed in nanoseconds, as text.
#[must_use]
pub fn tail(mut nanos: Vec<u64>) -> String {
    nanos.sort_unstable();
    let at = |q: usize| nanos.get(nanos.len() * q / 1000).copied().unwrap_or_default();
    let max = nanos.last().copied().unwrap_or_default() / 1_000;
    format!("median {} ns, p99.9 {} ns, max {max} µs", at(500), at(999))
}

/// Prints the median, p99.9 and worst of single calls timed in nanoseconds, beside a baseline
/// timed alike.
pub fn print_tail(what: &str, nanos: Vec<u64>, baseline: &str, base: Vec<u64>) {
    eprintln!("{what}: {} ({baseline}: {})", tail(nanos), tail(base));
}

/// A permutation of `0..n` that is one cycle through every index (Sattolo's shuffle): a chain
/// of loads that follows it visits every slot before it comes back to the first.
#[must_use]
pub fn one_cycle(n: usize) -> Vec<usize> {
    let mut next: Vec<usize> = (0..n).collect();
    let mut rng = rand::rng();
    for i in (1..n).rev() {
        next.swap(i, rand::RngExt::random_range(&mut rng, 0..i));
    }
    next
}

/// The nanoseconds a load takes in a chain of `loads` loads, each at the address the one
/// before it read, through `bytes` of memory in a random order: what a read that no cache
/// holds costs on this host, now. A virtual machine's share of its host's caches moves with
/// the host's other tenants, and with it every figure bound by memory, the baselines' too.
#[must_use]
pub fn load_latency_ns(bytes: usize, loads: usize) -> f64 {
    let next = one_cycle((bytes / size_of::<usize>()).max(2));
    let start = std::time::Instant::now();
    let mut at = 0;
    for _ in 0..loads {
        at = next.get(at).copied().unwrap_or_default();
    }
    std::hint::black_box(at);
    start.elapsed().as_secs_f64() * 1e9 / loads.max(1) as f64
}

/// Prints what a load from memory takes on this host now, over 4 MiB, 32 MiB and 256 MiB, so
/// that a run's figures bound by memory can be read against the host they ran on.
pub fn print_host() {
    let at = |mib: usize| load_latency_ns(mib << 20, 2_000_000);
    eprintln!(
        "host: a random load takes {:.0} ns over 4 MiB, {:.0} ns over 32 MiB, {:.0} ns over 256 MiB",
        at(4),
        at(32),
        at(256)
    );
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    #[test]
    fn a_chain_visits_every_slot_before_it_comes_back() {
        for n in [2, 3, 10, 1_000] {
            let next = one_cycle(n);
            let mut seen = vec![false; n];
            let mut at = 0;
            for _ in 0..n {
                assert!(!seen[at], "slot {at} of {n} visited twice");
                seen[at] = true;
                at = next[at];
            }
            assert_eq!(at, 0, "back at the start after {n} loads");
        }
        assert!(load_latency_ns(1 << 12, 1_000) > 0.0);
    }

    #[test]
    fn in_turn_calls_each_side_on_the_inputs_made_for_it() {
        let (mut made, mut called) = (0, Vec::new());
        let (mut base_made, mut base_called) = (0, 0);
        let turn = in_turn(
            8,
            || {
                made += 1;
                made
            },
            |i| called.push(i),
            || base_made += 1,
            |()| base_called += 1,
        );
        let calls = 8 * IN_TURN_ROUNDS;
        assert_eq!((made, base_made, base_called), (calls, calls, calls));
        // Each call got its own input, in the order they were made.
        assert_eq!(called, (1..=calls).collect::<Vec<_>>());
        assert!(turn.describe().contains("its baseline in turn"));
    }
}

#[cfg(test)]
#[cfg(target_os = "linux")]
mod tests {
    use super::*;

    /// The process's resident memory, from the kernel's own count.
    fn resident_bytes() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
        let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib << 10
    }

    #[test]
    fn touched_memory_stays_with_the_process_for_the_growth_to_come() {
        const MIB: usize = 1 << 20;
        let before = resident_bytes();
        touch_memory(256 * MIB);
        let after = resident_bytes();
        assert!(
            after >= before + 240 * MIB,
            "kept {} MiB of 256",
            after.saturating_sub(before) / MIB
        );
        // Growth is then given those pages: a quarter of them taken again adds next to nothing.
        let again: Vec<Vec<u8>> = (0..1_024).map(|_| vec![2u8; 64 << 10]).collect();
        let grown = resident_bytes();
        assert!(grown < after + 16 * MIB, "grew {} MiB", grown.saturating_sub(after) / MIB);
        drop(again);
        touch_memory_for_threads(2, 128 * MIB);
        let threads = resident_bytes();
        assert!(
            threads >= grown + 224 * MIB,
            "kept {} MiB of 256",
            threads.saturating_sub(grown) / MIB
        );
    }
}

#[cfg(test)]
mod rate_tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn each_figure_takes_its_own_median() {
        let rounds = [
            Rates { one: 3.0, two: 10.0, two_each: 7.0 },
            Rates { one: 1.0, two: 30.0, two_each: 9.0 },
            Rates { one: 2.0, two: 20.0, two_each: 8.0 },
        ];
        assert_eq!(medians(&rounds), Rates { one: 2.0, two: 20.0, two_each: 8.0 });
        assert_eq!(medians(&[]), Rates::default());
        let r = Rates { one: 2.0, two: 3.0, two_each: 4.0 };
        assert_eq!((r.speedup(), r.speedup_each()), (1.5, 2.0));
        assert_eq!(
            r.describe("calls"),
            "2 calls/s on 1 thread, 3/s on 2: 1.50x (4/s, 2.00x, by each thread's own time)"
        );
    }

    #[test]
    fn both_threads_make_every_call_and_their_own_times_are_within_the_whole() {
        let calls = AtomicUsize::new(0);
        let seen = [AtomicUsize::new(0), AtomicUsize::new(0), AtomicUsize::new(0)];
        let w = Workload {
            n: 1_000,
            work: &|t, i| {
                calls.fetch_add(1, Ordering::Relaxed);
                if let Some(seen) = seen.get(t) {
                    seen.fetch_add(i, Ordering::Relaxed);
                }
                std::hint::black_box((0..100u64).sum::<u64>());
            },
        };
        let (whole, each) = two_at_once(&w, 0..1_000);
        assert_eq!(calls.load(Ordering::Relaxed), 2_000);
        let sum: usize = (0..1_000).sum();
        assert_eq!(seen.each_ref().map(|s| s.load(Ordering::Relaxed)), [0, sum, sum]);
        assert!(whole > 0.0 && each >= whole, "{each} under {whole}");
    }
}
