//! The cloudcard HTTP service: records in one SQLite file (sealed at rest, key file beside it),
//! the demo's simulated banks, issuer and identity service behind it, JSON in front.
//!
//! `cargo run -p cloudcard-http-server` serves on 127.0.0.1:8080 (`PORT` to change it) and keeps
//! its records in `CLOUDCARD_DATA` (default: a folder in the temporary directory, printed at
//! start). The demo's codes go to an in-memory outbox; a real deployment passes its SMS gateway,
//! identity and face services, banks and issuer to `CloudCard::builder()` instead.

use std::sync::Arc;
use std::time::Duration;

use cloudcard::CloudCard;
use cloudcard::sqlite::KeyFile;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::var_os("CLOUDCARD_DATA").map_or_else(
        || std::env::temp_dir().join(format!("cloudcard-http-{}", std::process::id())),
        std::path::PathBuf::from,
    );
    std::fs::create_dir_all(&dir)?;
    let keys = KeyFile::new(dir.join("kek"));
    let db = dir.join("cloudcard.db");
    // Opening runs migrations and recovery: blocking work, off the async workers.
    let cc = tokio::task::spawn_blocking(move || CloudCard::demo().open(&db, &keys)).await??;
    let port = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(8080u16);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("cloudcard on http://{} (records in {})", listener.local_addr()?, dir.display());
    cloudcard_http_server::serve(Arc::new(cc), listener, Duration::from_secs(60)).await?;
    Ok(())
}
