//! Password hashing and verification (argon2, 19 MiB each) on a bounded pool: at most one per
//! core at a time, never holding a database connection, and a bounded queue behind them. A
//! sign-in storm then costs a few argon2 buffers of memory and leaves the other pages their
//! share of the machine; what does not fit in the queue is answered 503 with Retry-After
//! before anything is recorded.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Semaphore;

use crate::error::AppError;

pub struct PasswordWork {
    running: Semaphore,
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

impl PasswordWork {
    /// `workers` checks at once (the cores), `queue` more waiting.
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            running: Semaphore::new(workers),
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

    /// Runs `check` on a blocking thread once a core is free.
    pub async fn run<T, F>(&self, _admission: &Admission<'_>, check: F) -> Result<T, AppError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let _core = self
            .running
            .acquire()
            .await
            .map_err(|_| AppError::internal("the password pool is closed"))?;
        Ok(actix_web::web::block(check).await?)
    }
}
