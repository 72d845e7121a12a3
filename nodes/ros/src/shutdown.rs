//! SIGINT and SIGTERM as a flag: the node loop checks it and returns, so destructors run and
//! DDS peers are told the node left.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Set when SIGINT or SIGTERM arrived.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(Arc<AtomicBool>);

impl Shutdown {
    /// A flag raised by SIGINT and SIGTERM.
    pub fn on_signals() -> std::io::Result<Self> {
        let flag = Arc::new(AtomicBool::new(false));
        for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::flag::register(sig, Arc::clone(&flag))?;
        }
        Ok(Self(flag))
    }

    /// A flag raised only by [`Shutdown::request`] (tests, composed nodes).
    pub fn manual() -> Self {
        Self::default()
    }

    /// Whether shutdown was requested.
    pub fn requested(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Requests shutdown.
    pub fn request(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
