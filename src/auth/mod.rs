//! Who is asking: passwords and their policy, sign-in and lockout, sessions, CSRF, client address.

pub mod change_watch;
pub mod client;
pub mod csrf;
pub mod fresh_cache;
pub mod geoip;
pub mod live_cache;
pub mod login;
pub mod password_work;
pub mod plan_cache;
pub mod scope_cache;
pub mod session_cache;
pub mod session_store;
pub mod state;

pub use state::AppState;
