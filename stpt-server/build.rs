//! Decides which of stpt-server's integration tests can run on this machine, so none passes
//! without running.
//!
//! The PostgreSQL tests need a server named by `STPT_TEST_POSTGRES_URL`; the browser test
//! needs Chromium and chromedriver on `PATH`. When they are missing, those tests are compiled
//! with `#[ignore]` and a reason (cfgs `stpt_postgres_tests` and `stpt_browser_tests` are left
//! unset), so `cargo test` counts and names them as ignored. Under `CI` both cfgs are always
//! set: the tests run and fail when what they need is missing.

// A build script talks to Cargo on stdout.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=STPT_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rustc-check-cfg=cfg(stpt_postgres_tests)");
    println!("cargo::rustc-check-cfg=cfg(stpt_browser_tests)");

    let ci = std::env::var_os("CI").is_some();
    let postgres = std::env::var("STPT_TEST_POSTGRES_URL").is_ok_and(|url| !url.trim().is_empty());
    if postgres || ci {
        println!("cargo::rustc-cfg=stpt_postgres_tests");
    }

    let chromium = on_path(&["chromium", "chromium-browser", "google-chrome"]);
    let driver = on_path(&["chromedriver"]);
    for found in chromium.iter().chain(&driver) {
        // Removing or upgrading either decides again.
        println!("cargo::rerun-if-changed={}", found.display());
    }
    if (chromium.is_some() && driver.is_some()) || ci {
        println!("cargo::rustc-cfg=stpt_browser_tests");
    }
}

/// The first of `names` found in a directory of `PATH`.
fn on_path(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}
