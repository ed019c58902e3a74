//! The short form of `make soak`: 50 SIGKILLs (one child in five runs the
//! component) must lose nothing acknowledged.

#[test]
fn sigkilled_writers_lose_no_acknowledged_record() {
    let td = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_soak"))
        .args(["--kills", "50", "--dir"])
        .arg(td.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "soak failed:\n{stdout}\n{stderr}");
    let last = stdout.lines().last().unwrap_or_default();
    let fields: Vec<&str> = last.split(' ').collect();
    assert!(
        matches!(fields.as_slice(), ["50", "kills,", acked, "records", "acknowledged,", "0", "lost"] if acked.parse::<u64>().unwrap() > 0),
        "unexpected summary {last:?}\n{stdout}"
    );
}
