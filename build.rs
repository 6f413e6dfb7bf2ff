//! The migrations are compiled into the binary (`embed_migrations!` in `src/db/mod.rs`):
//! a new or edited migration builds the crate again, as an edited source file does.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
