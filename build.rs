//! Build-time facts for the test suite: whether the real-browser tests can run here.
//! `tests/api/browser/` marks its tests ignored, with the reason, when Chromium or
//! chromedriver is missing (`tessera_no_browser`), and its axe check when axe-core is not
//! installed (`tessera_no_axe`), so `cargo test` never reports a skipped test as passed; with
//! `CI=true` they are never ignored, and whatever is missing fails the run. The same rule
//! holds for the S3 file store's test and its server (`TEST_S3_ENDPOINT`, `tessera_no_s3`).

use std::path::Path;

const BROWSER: [&str; 2] = ["/usr/bin/chromium", "/usr/bin/chromedriver"];
/// Installed by `npm ci --prefix tests/browser` (the version pinned in its package.json).
const AXE: &str = "tests/browser/node_modules/axe-core/axe.min.js";

fn main() {
    println!("cargo::rustc-check-cfg=cfg(tessera_no_browser)");
    println!("cargo::rustc-check-cfg=cfg(tessera_no_axe)");
    println!("cargo::rustc-check-cfg=cfg(tessera_no_s3)");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=TEST_S3_ENDPOINT");
    // Directories, not the files: a file that is missing would make cargo rerun this script,
    // and rebuild the crate, on every build. Installing them changes the directories.
    println!("cargo::rerun-if-changed=/usr/bin");
    println!("cargo::rerun-if-changed=tests/browser");
    let ci = std::env::var("CI").is_ok_and(|value| value == "true");
    if ci {
        return;
    }
    if !BROWSER.iter().all(|path| Path::new(path).exists()) {
        println!("cargo::rustc-cfg=tessera_no_browser");
    }
    if !Path::new(AXE).exists() {
        println!("cargo::rustc-cfg=tessera_no_axe");
    }
    if std::env::var_os("TEST_S3_ENDPOINT").is_none() {
        println!("cargo::rustc-cfg=tessera_no_s3");
    }
}
