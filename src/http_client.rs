//! Where every outgoing HTTP client starts: reqwest on rustls with the
//! *ring* crypto provider.
//!
//! reqwest 0.13's own `rustls` feature brings aws-lc, a large C build; with
//! `rustls-no-provider` a provider has to be installed before the first
//! client is built, or building it panics. [`builder`] installs *ring* once
//! per process, so calling it is all a caller needs.

use std::sync::Once;

/// A `reqwest::ClientBuilder`, with the process's TLS provider installed.
pub fn builder() -> reqwest::ClientBuilder {
    static PROVIDER: Once = Once::new();
    PROVIDER.call_once(|| {
        // An error means a provider is already installed, which serves too.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
    reqwest::Client::builder()
}

#[cfg(test)]
mod tests {
    /// Without a provider installed, reqwest panics building a client; this
    /// builds several, as the server and the CLI do.
    #[test]
    fn clients_build_with_the_provider_installed() {
        for _ in 0..2 {
            assert!(super::builder().build().is_ok());
        }
        assert!(rustls::crypto::CryptoProvider::get_default().is_some());
    }
}
