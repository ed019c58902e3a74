//! The short form of `make soak`: 50 SIGKILLs (one child in five runs the
//! component) must lose nothing acknowledged; then 60 more with three
//! writers at once on the same stores, in shared mode.

#[test]
fn sigkilled_writers_lose_no_acknowledged_record() {
    soak(&["--kills", "50"]);
}

#[test]
fn sigkilled_concurrent_writers_lose_no_acknowledged_record() {
    soak(&["--kills", "60", "--writers", "3"]);
}

fn soak(args: &[&str]) {
    let td = tempfile::tempdir().unwrap();
    let kills = args[1];
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(args)
        .arg("--dir")
        .arg(td.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "soak failed:\n{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    let fields: Vec<&str> = last.split(' ').collect();
    assert!(
        matches!(fields.as_slice(), [k, "kills,", acked, "records", "acknowledged,", "0", "lost"] if *k == kills && acked.parse::<u64>().unwrap() > 0),
        "unexpected summary {last:?}\n{stdout}"
    );
}
