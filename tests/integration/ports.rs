//! Ports for the servers and drivers that tests and benchmarks start.

/// A port nothing listens on, for a server or driver a test starts, each test its own.
///
/// Not the port that binding port 0 gives: that comes from the kernel's ephemeral range
/// (32768–60999 on Linux), from which every outgoing connection (a test's own, to
/// PostgreSQL) takes its local port too, so it could be taken between this check and the
/// server's start ("Address already in use", seen in CI: the browser then reached nothing).
/// These are taken in turn from below that range, from a place that differs per process: 97
/// ports on per process id, since processes started one after another (a test each, as the
/// mutation runs start them) have ids one apart, and a start one port on would hand the next
/// process the second port this one took ("the panel did not start", seen in CI).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const PORTS: u32 = 12_000;
    const STRIDE: u32 = 97;
    static TAKEN: AtomicU32 = AtomicU32::new(0);
    let start = std::process::id().wrapping_mul(STRIDE) % PORTS;
    for _ in 0..PORTS {
        let turn = TAKEN.fetch_add(1, Ordering::Relaxed);
        let port = u16::try_from(FIRST + (start + turn) % PORTS).expect("a port");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port from {FIRST} to {}", FIRST + PORTS)
}
