//! The crash test must be able to fail: the bare baseline keeps nothing across a restart,
//! so killing it loses acknowledged messages and `loadtest crash` has to say so.

use std::process::Command;

#[test]
fn crash_test_catches_a_server_that_forgets_acknowledged_messages() {
    let out = Command::new(env!("CARGO_BIN_EXE_loadtest"))
        .args(["crash", "--target", "baseline", "--cycles", "1", "--clients", "4", "--rate", "20"])
        .output()
        .expect("loadtest runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("crash test: FAIL"), "{stderr}");
    let lost: u64 = stderr
        .split("lost-in-store ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .expect("the check line reports lost-in-store");
    assert!(lost > 0, "{stderr}");
}
