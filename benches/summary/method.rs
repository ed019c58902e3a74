//! `## Method`: how every number was measured.

use crate::Summary;

impl Summary {
    /// The section of BENCHMARKS.md.
    pub(crate) fn method_section(&self) -> String {
        format!("{}\n", self.method())
    }

    /// The section's text; the scale of P3 and P6 is the run's.
    fn method(&self) -> String {
        let p3_keys = self.p3.as_ref().map_or(0, |p| p.keys);
        let scale = if p3_keys >= 1_000_000 {
            "P3 and P6 run at full size: 1M keys x (16 B key + 1,000 B value), one ~1 GiB segment."
                .to_string()
        } else {
            format!(
                "P3 and P6 ran scaled down to {p3_keys} keys (the issue asks for 1M / 1 GiB). Reopen is one streaming pass, \
                 so its time scales with log bytes and its memory with keys (keydir); the reference's \
                 memory scales with log bytes (it loads every record at open)."
            )
        };
        format!(
            "## Method\n\n\
- Same binary, same run, same data shapes for ours and the reference; every comparison is interleaved \
(criterion: four rounds, the order reversed every round; one-shot measurements: rounds alternating the order).\n\
- Criterion: 0.5 s warm-up, 2 s measurement, 20 samples (10 for fsync-bound groups), median per round. \
`raw_file` is the floor: the same payload bytes written to a plain file with one `pwrite` per call (and \
`fdatasync` where the benchmark syncs), no framing, no checksum. The fsync-bound P2 and P7 are also \
measured interleaved, one operation per side in turn with the order rotating and reversed every other \
cycle, so no side always runs right after the same one (a shared disk's sync latency swings by 50x within \
seconds, more than criterion rounds even out; and A1 showed a side that always followed the same other side \
measuring 9 % slower than its twin); their targets use that measurement, and A1 is measured so only. \
So does P4, in turns of 1,000 operations (its write path moved between about 650 and 1,150 ns a put from \
one 2 s criterion round to the next, which could put one side in a slow phase and the other not). \
P1 and P2 logs start over in a fresh directory (outside the timed part) every 128 MiB, so appends never \
pile up gigabytes of dirty pages.\n\
- P2 counts payload bytes (4,096,000 per fsync); ours uses `append_batch` + `fsync` (one write, one \
fdatasync), the reference a loop of 1,000 `append` + `fsync` (fsync of file and directory). `dd` runs \
before, between and after the rounds; its median is the bar.\n\
- P3: the store is written once by this crate with default options (one segment, as the reference writes \
it; the bytes are the reference's format) and reopened by both in child processes, warm page cache, 5 \
rounds (medians); time is measured around `DataWal::open` inside the child, peak RSS is the child's `VmHWM`. The \
hint-file variant is the same records written with `Options::new().hint_files(true).segment_bytes_max(64 MiB)`. \
{scale}\n\
- P4: 100k keys (16 B) of 100 B values preloaded; random present keys (drawn before each timed turn), \
get returns the value, put overwrites it (no sync).\n\
- P5: host-tests' `component` bench (needs `make component io-floor`): the release component in wasmtime 48 \
vs native `DataWal` in the same process, the same `put`/`get` calls (each crossing the WIT boundary), 5 \
rounds alternating the order; the bulk load is 200k `put` of 1 KB + one `fsync`. The floor row runs the \
same mix on `host-tests/io-floor`, a guest in the same host that does per operation one WIT call and one \
WASI pread or pwrite of a frame's bytes (300 B) and nothing else (no checksum, no index: the host keeps the \
offsets). The `contains` row (a hash lookup, no I/O) is about one bare WIT call on the component side.\n\
- P6: `RecordLogReader::scan_iter` over the whole log in a child process, warm page cache; memory is the \
child's VmHWM growth during the scan. Two logs: the P3 log (~1 KiB frames) and 1 GiB of 1 MiB frames; and, as the floor, a log of one 1 KiB frame.\n\
- P7: one 1 KB put of a random existing key (20k preloaded) then its own sync, per iteration; besides \
the stores, okaywal (a write-ahead log, default configuration) and three floors, a plain file's pwrite + \
fdatasync growing the file, inside a file extended ahead in 1 MiB steps, and going round a 1 MiB file \
zero-filled once (see issue 17's section).\n\
- L1: a full listing of a store of 16 B keys and 100 B values (`stores`, section `list`), warm page cache, \
3 interleaved rounds (medians), each right after a write, so each sorts the keys again: pages of 1,000 \
(`keys_page`, `items_page`, each page starting after the last one's cursor) against one `keys()` / \
`items()` call. The first page sorts; later pages binary-search the cursor in the order kept until the \
next write.\n\
- Targets are ratios of the same run; absolute numbers move with the machine's load.\n"
        )
    }
}
