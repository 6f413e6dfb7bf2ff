//! Password hashing and verification (argon2, 19 MiB each) on a bounded pool: one thread per
//! core of its own, never holding a database connection, and a bounded queue behind them. A
//! sign-in storm then costs a few argon2 buffers of memory and leaves the other pages their
//! share of the machine; what does not fit in the queue is answered 503 with Retry-After
//! before anything is recorded.
//!
//! The threads are the pool's own, not the runtime's blocking threads: the allocator keeps a
//! freed 19 MiB buffer in the arena of the thread that used it, so checks spread over dozens of
//! blocking threads held hundreds of megabytes after a storm; two threads hold two buffers.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use crate::error::AppError;

/// A check, given the thread's argon2 memory (kept from check to check).
type Job = Box<dyn FnOnce(&mut Vec<argon2::Block>) + Send>;

pub struct PasswordWork {
    /// Where checks wait for a free thread of the pool.
    jobs: Mutex<mpsc::Sender<Job>>,
    /// Checks running or waiting.
    admitted: AtomicUsize,
    /// At most this many running or waiting.
    capacity: usize,
}

/// A place in the pool, given back when dropped (also when the request is cancelled).
pub struct Admission<'a> {
    work: &'a PasswordWork,
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.work.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Lowers this thread's scheduling priority by 10 (nice). A check is 20 ms of one core: during
/// a storm the password threads would take their full share of the machine, and the pages
/// (and `/readyz`) would wait behind them. Given a lower priority they run on what the pages
/// leave; with nothing else to do the checks still have the whole machine.
///
/// Not `SCHED_IDLE`, measured (`scripts/bench-signin-storm`): under it a page woken while a
/// check runs gets the core at once, where at nice 10 it may wait for the next scheduler tick
/// (4 ms on a 250 Hz kernel), but while the pages keep both cores busy a check under
/// `SCHED_IDLE` gets nothing: a sign-in took 6-10 s, until the load stopped, against 0.2-0.3 s
/// at nice 10. One signed-in client's load must not lock everyone else out.
fn give_way_to_pages() {
    #[cfg(target_os = "linux")]
    if let Err(err) = rustix::process::getpriority_process(None).and_then(|nice| {
        rustix::process::setpriority_process(Some(rustix::thread::gettid()), nice + 10)
    }) {
        tracing::warn!(error = %err, "cannot lower the password threads' priority");
    }
}

impl PasswordWork {
    /// `workers` checks at once (the cores), `queue` more waiting.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for n in 0..workers {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-{n}"))
                .spawn(move || {
                    give_way_to_pages();
                    let mut memory = Vec::new();
                    loop {
                        // the lock is held only while taking the next job
                        let next = match receiver.lock() {
                            Ok(jobs) => jobs.recv(),
                            Err(_) => return,
                        };
                        match next {
                            // a check that panics costs its own answer, not the thread
                            Ok(job) => {
                                let _ =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        job(&mut memory)
                                    }));
                            }
                            Err(_) => return, // the pool was dropped
                        }
                    }
                });
            if let Err(err) = spawned {
                tracing::error!(error = %err, "cannot start a password thread");
            }
        }
        Self {
            jobs: Mutex::new(sender),
            admitted: AtomicUsize::new(0),
            capacity: workers + queue,
        }
    }

    /// One core per check, as many as the machine has.
    pub fn for_this_machine(queue: usize) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self::new(cores, queue)
    }

    /// A place for one check, or `Busy` when the queue is full. Take it before recording
    /// anything, so a refused attempt changes nothing.
    pub fn admit(&self) -> Result<Admission<'_>, AppError> {
        let before = self.admitted.fetch_add(1, Ordering::AcqRel);
        let admission = Admission { work: self };
        if before >= self.capacity {
            return Err(AppError::Busy {
                retry_after_secs: 2,
            });
        }
        Ok(admission)
    }

    /// Runs `check` on a thread of the pool once one is free, with that thread's argon2 memory
    /// (19 MiB, allocated once per thread: no storm grows the heap).
    pub async fn run<T, F>(&self, _admission: &Admission<'_>, check: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Vec<argon2::Block>) -> T + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            // the request may have gone; its answer is then not needed
            let _ = answer.send(check(memory));
        });
        let closed = || AppError::internal("the password pool is closed");
        self.jobs
            .lock()
            .map_err(|_| closed())?
            .send(job)
            .map_err(|_| closed())?;
        answered.await.map_err(|_| closed())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The pages come first: a check runs at a lower priority than the threads that serve them.
    #[actix_web::test]
    async fn checks_run_at_a_lower_priority_than_pages() {
        let work = PasswordWork::new(1, 0);
        let admission = work.admit().expect("a place");
        let priority = work
            .run(&admission, |_| {
                rustix::process::getpriority_process(Some(rustix::thread::gettid()))
            })
            .await
            .expect("ran")
            .expect("read");
        let pages =
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).expect("read");
        assert_eq!(priority, (pages + 10).min(19));
    }
}
