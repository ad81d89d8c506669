//! One build-time fact for the test suite: whether the real-browser test can run here.
//! `tests/api/browser.rs` is marked ignored, with its reason, when Chromium or chromedriver
//! is missing, so `cargo test` never reports a skipped browser test as passed; with
//! `CI=true` it is never ignored, and a missing browser fails the run.

use std::path::Path;

const BROWSER: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromedriver"];

fn main() {
    println!("cargo::rustc-check-cfg=cfg(tessera_no_browser)");
    println!("cargo::rerun-if-env-changed=CI");
    // The directory, not the two files: a file that is missing would make cargo rerun this
    // script, and rebuild the crate, on every build. Installing them changes the directory.
    println!("cargo::rerun-if-changed=/usr/bin");
    let installed = BROWSER.iter().all(|path| Path::new(path).exists());
    let ci = std::env::var("CI").is_ok_and(|value| value == "true");
    if !installed && !ci {
        println!("cargo::rustc-cfg=tessera_no_browser");
    }
}
