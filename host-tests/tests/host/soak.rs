//! The short form of `make soak`: 50 SIGKILLs (one child in five runs the
//! component) must lose nothing acknowledged; then 60 more with three
//! writers at once on the same stores, in shared mode. Both compact in
//! place more often than `make soak` does (one operation in 25, not 200),
//! so that these few kills still start (and cut) compactions. A third run
//! has the native writers preallocate (the component's stores always do);
//! a fourth has them keep the on-disk index with small segments and a
//! prefix table every 500 bytes, checked through that index.
//! Every run also moves amounts between accounts all writers share, one
//! transaction each, and checks their sum after every kill.

#[test]
fn sigkilled_writers_lose_no_acknowledged_record() {
    soak(&["--kills", "50", "--compact-every", "25"]);
}

#[test]
fn sigkilled_concurrent_writers_lose_no_acknowledged_record() {
    soak(&["--kills", "60", "--writers", "3", "--compact-every", "25"]);
}

/// The same with native writers preallocating 4 KiB steps of room.
#[test]
fn sigkilled_preallocating_writers_lose_no_acknowledged_record() {
    soak(&["--kills", "60", "--writers", "3", "--compact-every", "25", "--preallocate", "4096"]);
}

/// The same with native writers keeping the on-disk index (16 KiB
/// segments, so tables seal, merge and straddle compactions) and writing
/// a prefix table every 500 bytes of the active segment.
#[test]
fn sigkilled_writers_with_index_and_prefix_tables_lose_no_acknowledged_record() {
    soak(&[
        "--kills",
        "60",
        "--writers",
        "3",
        "--compact-every",
        "25",
        "--preallocate",
        "4096",
        "--prefix-every",
        "500",
    ]);
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
    // Compactions started among the writes (how many return before their
    // child is killed depends on the machine's speed).
    let line = stdout.lines().find(|l| l.starts_with("soak: compactions: ")).unwrap_or_default();
    let counts: Vec<u64> = line.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).collect();
    assert!(
        matches!(counts.as_slice(), [started, returned, ..] if *started > 0 && started >= returned),
        "unexpected compactions line {line:?}\n{stdout}"
    );
    // Transfers between the shared accounts returned, and every check of
    // their sum after a kill held (the soak fails otherwise).
    let line = stdout.lines().find(|l| l.contains(" transfers acknowledged")).unwrap_or_default();
    let transfers: u64 = line.split(' ').nth(1).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(transfers > 0, "no transfer acknowledged: {line:?}\n{stdout}");
    let last = stdout.lines().last().unwrap_or_default();
    let fields: Vec<&str> = last.split(' ').collect();
    assert!(
        matches!(fields.as_slice(), [k, "kills,", acked, "records", "acknowledged,", "0", "lost"] if *k == kills && acked.parse::<u64>().unwrap() > 0),
        "unexpected summary {last:?}\n{stdout}"
    );
}
