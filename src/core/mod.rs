//! The leaves: plain types and functions that every layer may use and that import nothing
//! above them (a test keeps it so): the permission catalog, masking, secrets and password
//! hashing, ids and statuses, the clock.

pub mod clock;
pub mod cursor;
pub mod ids;
pub mod masking;
pub mod passwords;
pub mod permissions;
pub mod sealing;
pub mod secrets;
pub mod status;
pub mod text;
pub mod totp;
