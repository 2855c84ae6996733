//! Time: the [`Clock`] port and the Beijing calendar.

use crate::sync::MutexExt;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, TimeDelta, Timelike, Utc};

/// Beijing time, UTC+8: the zone of every business date.
pub const BEIJING: FixedOffset = match FixedOffset::east_opt(8 * 3600) {
    Some(offset) => offset,
    // Evaluated at compile time: a wrong offset fails the build, never a running program.
    None => panic!("utc+8 is a valid offset"),
};

/// Where every service reads the time, so that deadlines (OTP expiry, 24 hours, 7 natural
/// days, 72 hours) are tested with a [`ManualClock`] instead of sleeping.
pub trait Clock: Send + Sync + core::fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// A clock shared between services.
pub type SharedClock = Arc<dyn Clock>;

impl<C: Clock + ?Sized> Clock for Arc<C> {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> DateTime<Utc> {
        (**self).now()
    }
}

/// The operating system's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to: for tests, simulations and replays.
///
/// ```
/// use chrono::{TimeDelta, TimeZone, Utc};
/// use cloudcard_core::{Clock, ManualClock};
///
/// let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().ok_or("no such time")?;
/// let clock = ManualClock::new(start);
/// clock.advance(TimeDelta::minutes(5));
/// assert_eq!(clock.now(), start + TimeDelta::minutes(5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ManualClock {
    // The instant as seconds and nanoseconds, under a sequence number that is odd while the
    // clock moves: reading it writes nothing, so threads reading it share nothing they must
    // pass back and forth.
    seq: AtomicU64,
    secs: AtomicI64,
    nanos: AtomicU32,
    moving: Mutex<()>,
}

impl ManualClock {
    /// A clock standing at `now`.
    #[must_use]
    pub const fn new(now: DateTime<Utc>) -> Self {
        Self {
            seq: AtomicU64::new(0),
            secs: AtomicI64::new(now.timestamp()),
            nanos: AtomicU32::new(now.timestamp_subsec_nanos()),
            moving: Mutex::new(()),
        }
    }

    /// Moves the clock to `now` (backwards too, to test clock skew).
    pub fn set(&self, now: DateTime<Utc>) {
        let _one_at_a_time = self.moving.lock_unpoisoned();
        self.store(now);
    }

    /// Moves the clock forward by `by`; past the end of time it stays where it is.
    pub fn advance(&self, by: TimeDelta) {
        let _one_at_a_time = self.moving.lock_unpoisoned();
        if let Some(later) = self.now().checked_add_signed(by) {
            self.store(later);
        }
    }

    fn store(&self, now: DateTime<Utc>) {
        self.seq.fetch_add(1, Ordering::AcqRel);
        self.secs.store(now.timestamp(), Ordering::Release);
        self.nanos.store(now.timestamp_subsec_nanos(), Ordering::Release);
        self.seq.fetch_add(1, Ordering::AcqRel);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        loop {
            let before = self.seq.load(Ordering::Acquire);
            let secs = self.secs.load(Ordering::Acquire);
            let nanos = self.nanos.load(Ordering::Acquire);
            if before.is_multiple_of(2) && self.seq.load(Ordering::Acquire) == before {
                // Both halves came from one stored instant, which was a valid one.
                return DateTime::from_timestamp(secs, nanos).unwrap_or_default();
            }
            std::hint::spin_loop();
        }
    }
}

/// The Beijing natural day that `instant` falls on.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use cloudcard_core::beijing_date;
///
/// // 16:30 UTC is already 00:30 the next day in Beijing.
/// let instant = Utc.with_ymd_and_hms(2026, 3, 1, 16, 30, 0).single().ok_or("no such time")?;
/// assert_eq!(Some(beijing_date(instant)), NaiveDate::from_ymd_opt(2026, 3, 2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn beijing_date(instant: DateTime<Utc>) -> NaiveDate {
    instant.with_timezone(&BEIJING).date_naive()
}

/// The hour of the day (0–23) in Beijing at `instant`.
#[must_use]
pub fn beijing_hour(instant: DateTime<Utc>) -> u32 {
    instant.with_timezone(&BEIJING).hour()
}

/// The instant the Beijing natural day `date` starts (its midnight, 16:00 UTC the day before),
/// or `None` at the very edge of the representable calendar.
///
/// ```
/// use chrono::{NaiveDate, TimeZone, Utc};
/// use cloudcard_core::beijing_day_start;
///
/// let day = NaiveDate::from_ymd_opt(2026, 3, 2).ok_or("no such day")?;
/// assert_eq!(beijing_day_start(day), Utc.with_ymd_and_hms(2026, 3, 1, 16, 0, 0).single());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use]
pub fn beijing_day_start(date: NaiveDate) -> Option<DateTime<Utc>> {
    date.and_time(NaiveTime::MIN)
        .and_local_timezone(BEIJING)
        .single()
        .map(|start| start.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap();
        let clock = ManualClock::new(t0);
        assert_eq!(clock.now(), t0);
        clock.advance(TimeDelta::hours(72));
        assert_eq!(clock.now(), t0 + TimeDelta::hours(72));
        clock.set(t0);
        assert_eq!(clock.now(), t0);
        let end = DateTime::<Utc>::MAX_UTC;
        clock.set(end);
        clock.advance(TimeDelta::seconds(1));
        assert_eq!(clock.now(), end);
        let shared: SharedClock = Arc::new(ManualClock::new(t0));
        assert_eq!(shared.now(), t0);
    }

    #[test]
    fn a_moving_clock_is_never_read_half_moved() {
        let a = Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap() - TimeDelta::nanoseconds(1);
        let b = a + TimeDelta::nanoseconds(1); // seconds and nanoseconds both change
        let clock = ManualClock::new(a);
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    while !stop.load(Ordering::Relaxed) {
                        let now = clock.now();
                        assert!(now == a || now == b, "{now:?}");
                    }
                });
            }
            for i in 0..20_000 {
                clock.set(if i % 2 == 0 { b } else { a });
            }
            stop.store(true, Ordering::Relaxed);
        });
    }

    #[test]
    fn beijing_days() {
        let before = Utc.with_ymd_and_hms(2026, 12, 31, 15, 59, 59).unwrap();
        let after = Utc.with_ymd_and_hms(2026, 12, 31, 16, 0, 0).unwrap();
        assert_eq!(beijing_date(before), NaiveDate::from_ymd_opt(2026, 12, 31).unwrap());
        assert_eq!(beijing_date(after), NaiveDate::from_ymd_opt(2027, 1, 1).unwrap());
        assert_eq!(beijing_hour(before), 23);
        assert_eq!(beijing_hour(after), 0);
        assert_eq!(BEIJING.local_minus_utc(), 8 * 3600);
        assert!(SystemClock.now() > before - TimeDelta::days(365 * 10));
    }

    proptest! {
        #[test]
        fn day_start_is_the_first_instant_of_its_day(secs in 0i64..4_000_000_000) {
            let instant = DateTime::from_timestamp(secs, 0).unwrap();
            let day = beijing_date(instant);
            let start = beijing_day_start(day).unwrap();
            prop_assert!(start <= instant);
            prop_assert!(instant - start < TimeDelta::days(1));
            prop_assert_eq!(beijing_date(start), day);
            prop_assert_eq!(beijing_date(start - TimeDelta::seconds(1)), day.pred_opt().unwrap());
        }
    }
}
