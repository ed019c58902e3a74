//! A real full disk: a 4 MiB tmpfs of the test's own (never `/dev/shm`,
//! which is RAM-sized here), filled through the engine until the kernel
//! answers ENOSPC. Needs root to mount; without it the test says so on
//! stderr and passes without checking anything.

use std::path::{Path, PathBuf};
use std::process::Command;

use datawal::{DataWal, Error, ErrorKind};

/// A tmpfs mounted for the test's lifetime.
struct SmallFs {
    mount_point: PathBuf,
    _parent: tempfile::TempDir,
}

impl SmallFs {
    fn mount(size: &str) -> Result<SmallFs, String> {
        let parent = tempfile::tempdir().map_err(|e| e.to_string())?;
        let mount_point = parent.path().join("fs");
        std::fs::create_dir(&mount_point).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "datawal-test"])
            .arg(&mount_point)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(SmallFs { mount_point, _parent: parent })
    }

    fn path(&self) -> &Path {
        &self.mount_point
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount_point).status();
    }
}

#[test]
fn full_disk_poisons_the_writer_and_reopen_recovers_everything_acknowledged() {
    let fs = match SmallFs::mount("4m") {
        Ok(fs) => fs,
        Err(why) => {
            eprintln!(
                "SKIPPED full_disk test: cannot mount a small tmpfs ({why}); run as root to check ENOSPC"
            );
            return;
        }
    };
    let dir = fs.path().join("store");
    // Ballast to delete later, so recovery has room to work.
    let ballast = fs.path().join("ballast");
    std::fs::write(&ballast, vec![0u8; 512 * 1024]).unwrap();

    let mut kv = DataWal::open(&dir).unwrap();
    let value = vec![0xabu8; 16 * 1024];
    let mut acknowledged = 0u32;
    let err = loop {
        match kv.put(format!("key-{acknowledged:05}").as_bytes(), &value) {
            Ok(()) => acknowledged += 1,
            Err(e) => break e,
        }
        assert!(acknowledged < 10_000, "4 MiB filesystem never filled");
    };
    assert_eq!(Error::kind_of(&err), Some(ErrorKind::Io), "{err:#}");
    assert!(format!("{err:#}").to_lowercase().contains("no space"), "{err:#}");
    assert!(kv.log().is_poisoned());
    let refused = kv.put(b"more", b"data").unwrap_err();
    assert_eq!(Error::kind_of(&refused), Some(ErrorKind::Poisoned));
    assert_eq!(kv.get(b"key-00000").unwrap(), Some(value.clone()), "reads keep working");
    assert!(acknowledged > 100, "only {acknowledged} puts fit");
    drop(kv);

    std::fs::remove_file(&ballast).unwrap();
    let mut kv = DataWal::open(&dir).unwrap();
    assert_eq!(kv.len(), acknowledged as usize, "every acknowledged put survives");
    for i in [0, acknowledged / 2, acknowledged - 1] {
        assert_eq!(kv.get(format!("key-{i:05}").as_bytes()).unwrap(), Some(value.clone()));
    }
    kv.put(b"after", b"recovery").unwrap();
    kv.fsync().unwrap();
    drop(kv);
    let mut kv = DataWal::open(&dir).unwrap();
    assert_eq!(kv.get(b"after").unwrap().as_deref(), Some(&b"recovery"[..]));
    assert_eq!(kv.log().recovery_report().unwrap().tail_truncated, 0);
}
