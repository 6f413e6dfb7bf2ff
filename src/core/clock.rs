//! The time every rule reads: session lifetimes and idle timeouts, lockouts, throttles,
//! reveals left today, missed-chat minutes, the session cache's freshness.
//!
//! Each pool has a [`Clock`]; `db::run` makes it the clock of the work it runs, so
//! [`now`] inside database work reads the clock of the instance doing it. In production a
//! clock is the system's UTC time. Tests move their app's clock ([`Clock::stop`],
//! [`Clock::advance`]) instead of waiting or rewriting timestamps, so no test depends on when
//! or how fast it runs, and tests running side by side in one process keep their own time.

use std::cell::RefCell;
use std::sync::{Arc, RwLock};

use chrono::{NaiveDateTime, SubsecRound, TimeDelta, Utc};

/// A time of day on one fixed day, for the unit tests of time rules.
#[cfg(test)]
pub(crate) fn on_test_day(hour: u32, minute: u32, second: u32) -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2026, 12, 4)
        .and_then(|day| day.and_hms_opt(hour, minute, second))
        .expect("a valid time")
}

/// The system's UTC time at microsecond precision, which both databases store exactly.
fn system_now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(6)
}

#[derive(Clone, Copy, Debug)]
enum Moved {
    /// The system's time, shifted.
    By(TimeDelta),
    /// A time that moves only when told to.
    Stopped(NaiveDateTime),
}

/// One instance's time. Clones share it.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    moved: Arc<RwLock<Option<Moved>>>,
}

impl Clock {
    pub fn now(&self) -> NaiveDateTime {
        match self.moved.read().map(|moved| *moved) {
            Ok(Some(Moved::Stopped(at))) => at,
            Ok(Some(Moved::By(delta))) => system_now() + delta,
            Ok(None) | Err(_) => system_now(),
        }
    }

    /// Stops the clock at its current reading (for tests).
    pub fn stop(&self) {
        let at = self.now();
        if let Ok(mut moved) = self.moved.write() {
            *moved = Some(Moved::Stopped(at));
        }
    }

    /// Moves the clock forward (for tests); a stopped clock stays stopped at the new time.
    pub fn advance(&self, by: TimeDelta) {
        if let Ok(mut moved) = self.moved.write() {
            *moved = Some(match *moved {
                Some(Moved::Stopped(at)) => Moved::Stopped(at + by),
                Some(Moved::By(delta)) => Moved::By(delta + by),
                None => Moved::By(by),
            });
        }
    }

    /// Makes this the clock that [`now`] reads on this thread until the guard is dropped.
    pub fn run_here(&self) -> RunningHere {
        RUNNING.with(|running| *running.borrow_mut() = Some(self.clone()));
        RunningHere(())
    }
}

thread_local! {
    static RUNNING: RefCell<Option<Clock>> = const { RefCell::new(None) };
}

/// While it lives, [`now`] on this thread reads the clock that made it.
pub struct RunningHere(());

impl Drop for RunningHere {
    fn drop(&mut self) {
        RUNNING.with(|running| *running.borrow_mut() = None);
    }
}

/// The time of the work running on this thread: its instance's clock inside `db::run`, the
/// system's time elsewhere (the command line). Async code that has a pool asks its clock.
pub fn now() -> NaiveDateTime {
    RUNNING
        .with(|running| running.borrow().as_ref().map(Clock::now))
        .unwrap_or_else(system_now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stopped_clock_moves_only_when_told() {
        let clock = Clock::default();
        clock.stop();
        let at = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(clock.now(), at);
        clock.advance(TimeDelta::minutes(31));
        assert_eq!(clock.now(), at + TimeDelta::minutes(31));
    }

    #[test]
    fn a_running_clock_moved_twice_is_ahead_by_both() {
        let clock = Clock::default();
        clock.advance(TimeDelta::hours(2));
        clock.advance(TimeDelta::hours(3));
        let ahead = clock.now() - system_now();
        assert!(
            ahead > TimeDelta::minutes(299) && ahead <= TimeDelta::hours(5),
            "{ahead}"
        );
    }

    #[test]
    fn now_reads_the_clock_of_the_running_work_only_while_it_runs() {
        let clock = Clock::default();
        clock.advance(TimeDelta::days(3));
        let shifted = {
            let _here = clock.run_here();
            now()
        };
        let after = now();
        assert!(shifted - after > TimeDelta::days(2), "{shifted} vs {after}");
        assert!(system_now() - after < TimeDelta::seconds(5));
    }
}
