//! Helpers shared by the actors crate's integration tests.

use std::time::Duration;

/// Waits up to 5 s for `condition`, failing the test with `what` if it never holds.
pub async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
