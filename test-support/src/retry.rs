//! Retries of API calls that failed for a passing reason.

use std::future::Future;
use std::time::Duration;

/// Attempts of [`retry`] before it gives up.
pub const ATTEMPTS: u32 = 8;

/// Whether `error` may pass on its own: throttling (429), a server error (5xx), or no answer at all
/// (timeouts, connection resets).
pub fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(e) => e.code == 429 || e.code >= 500,
        _ => true,
    }
}

/// Calls `call` until it succeeds, up to [`ATTEMPTS`] times while it fails with [`is_transient`]
/// errors, backing off from 200 ms to 5 s. Errors other than API answers are logged to stderr with
/// `what`; the error returned names `what`.
pub async fn retry<T, F, Fut>(what: &str, mut call: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(200);
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt < ATTEMPTS && is_transient(&e) => {
                if !matches!(e, kube::Error::Api(_)) {
                    eprintln!("{what}: {e}; retrying");
                }
            }
            Err(e) => return Err(format!("{what}: {e}")),
        }
        attempt += 1;
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(code: u16) -> kube::Error {
        kube::Error::Api(kube::core::Status::failure("test", "Test").with_code(code).boxed())
    }

    #[test]
    fn transient_errors() {
        assert!(is_transient(&api_error(429)));
        assert!(is_transient(&api_error(503)));
        assert!(!is_transient(&api_error(404)));
        assert!(!is_transient(&api_error(409)));
    }
}
