//! Progress on stderr, drawn only where a person is watching: stderr is a
//! terminal, the store is large enough for the work to take a moment, and
//! (for commands that stream records to stdout) stdout is not that same
//! terminal, where the records themselves show the progress.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// Stores smaller than this are read in well under a second: no bar.
const LARGE_STORE_BYTES: u64 = 8 << 20;

fn wanted(store_bytes: u64, streams_to_stdout: bool) -> bool {
    store_bytes >= LARGE_STORE_BYTES
        && std::io::stderr().is_terminal()
        && !(streams_to_stdout && std::io::stdout().is_terminal())
}

/// A bar over a store's `store_bytes`; position it with `Store::position`.
pub fn bytes(store_bytes: u64, label: &'static str, streams_to_stdout: bool) -> ProgressBar {
    if !wanted(store_bytes, streams_to_stdout) {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "{msg:8} [{bar:40.cyan/blue}] {binary_bytes}/{binary_total_bytes} ({binary_bytes_per_sec}, {eta})",
    )
    .expect("valid template")
    .progress_chars("=> ");
    ProgressBar::new(store_bytes).with_style(style).with_message(label)
}

/// A spinner for work the library does in one call on a store of
/// `store_bytes`.
pub fn spinner(store_bytes: u64, label: &'static str) -> ProgressBar {
    if !wanted(store_bytes, false) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new_spinner().with_message(label);
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
