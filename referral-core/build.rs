//! Rebuilds when a migration is added: `sqlx::migrate!` embeds the migrations directory,
//! and cargo only watches files it is told about.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
