//! The command line: subcommands, arguments, help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::bytes::Format;

const ABOUT: &str = "Inspect, verify, read, write, export, compact and repair datawal stores.";

const LONG_ABOUT: &str = "Inspect, verify, read, write, export, compact and repair datawal stores.

A store is a directory of segment files (00000001.dwal, ...) written by the datawal crate \
(0.1.x or 0.2), natively or from its WebAssembly component; they are the same bytes.

inspect, verify, scan and get only read, take no lock and work while a writer has the store \
open. put, delete, export, compact and repair take the store's writer lock and fail at once \
(exit 4) if another writer holds it.";

#[derive(Debug, Parser)]
#[command(name = "dwal", version, about = ABOUT, long_about = LONG_ABOUT, arg_required_else_help = true)]
pub struct Cli {
    /// Print the result as JSON on stdout (one object, or one per line for scan)
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Segments with sizes, record counts and txid ranges; torn tail; live keys; dead bytes
    Inspect {
        /// Store directory
        dir: PathBuf,
    },
    /// Check every frame of every segment; report where each problem is (read-only, no lock)
    #[command(long_about = "Check every frame of every segment and report each problem with its \
        segment file, byte offset, class (truncated, crc-mismatch, structural, zero-fill) and what \
        opening the store does about it. Read-only; takes no lock.\n\nExit 0 when clean, 6 when the \
        only problem is a torn tail, 5 when the store is damaged.")]
    Verify {
        /// Store directory
        dir: PathBuf,
    },
    /// Print records in log order (puts, deletes and raw records)
    Scan(ScanArgs),
    /// Print the live value of a key (exit 3 when it has none)
    Get(GetArgs),
    /// Set a key to a value given as an argument, in a file, or on stdin
    Put(PutArgs),
    /// Delete a key (writes a tombstone, even when the key is absent)
    Delete(DeleteArgs),
    /// Write every live key and value as JSON lines {"key_b64":...,"value_b64":...}
    Export(ExportArgs),
    /// Compact the store: into a copy (OUT_DIR), or in place (--in-place)
    #[command(
        long_about = "Compact the store: keep only the live value of each key.\n\n\
        With OUT_DIR: write a compacted copy into OUT_DIR: one Put per live key, keys in \
        ascending byte order. Raw records (RecordLog::append) and overwritten or deleted values \
        are not copied. The source is not modified; OUT_DIR must be absent or empty. The copy is \
        written with the options given here: its segment size (--segment-bytes-max) and whether \
        it has hint files (--hint-files; by default it has them when DIR has any *.hint file).\n\n\
        With --in-place: compact DIR itself. The active segment is sealed, the live records of \
        every segment are copied (verbatim, txids kept) into one new segment, which is made \
        durable and installed before the old segments are removed, oldest first. A crash at any \
        point loses nothing and brings back no deleted key; datawal 0.1.5 reads the directory at \
        every point. Raw records are not kept. The new segment gets a hint file when hint files \
        are on (--hint-files; by default when DIR has any *.hint file). Prints the live keys, \
        the records and bytes written and the directory's size before and after. Exits 4 when \
        another writer holds the store or another compaction of it is in flight (a dead one's \
        marker expires 30 s after it stopped).",
        override_usage = "dwal compact [OPTIONS] <DIR> <OUT_DIR>\n       dwal compact [OPTIONS] --in-place <DIR>"
    )]
    Compact(CompactArgs),
    /// Drop damage at the end of the active segment, keeping its bytes in a side file
    #[command(long_about = "Accept the loss of damaged bytes in the active segment: a torn tail, \
        or damage followed by CRC-valid frames that a normal open refuses to drop (the library's \
        salvage mode). Shows what would be dropped and asks first, unless --yes. The dropped \
        bytes are moved into a side file beside the segments (<segment>.torn-<offset>), never \
        deleted. Damage in a sealed segment, or bytes that are not a version-1 frame, cannot be \
        repaired this way.")]
    Repair(RepairArgs),
}

#[derive(Debug, Args)]
pub struct KeyFormat {
    /// How KEY is written, and how keys are shown
    #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
    pub key_format: Format,
}

#[derive(Debug, Args)]
pub struct ValueFormat {
    /// How values are written (argument, file or stdin), and how they are shown
    #[arg(long, value_enum, default_value_t, value_name = "FORMAT")]
    pub value_format: Format,
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// Store directory
    pub dir: PathBuf,
    /// Skip records whose txid is lower
    #[arg(long, value_name = "N")]
    pub from_txid: Option<u64>,
    /// Print at most N records
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    #[command(flatten)]
    pub key: KeyFormat,
    #[command(flatten)]
    pub value: ValueFormat,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Store directory
    pub dir: PathBuf,
    /// The key (see --key-format)
    pub key: String,
    /// Write the value to FILE instead of stdout, in --value-format (utf8: the bytes as they are), no newline added
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub key_format: KeyFormat,
    #[command(flatten)]
    pub value_format: ValueFormat,
}

#[derive(Debug, Args)]
pub struct PutArgs {
    /// Store directory
    pub dir: PathBuf,
    /// The key (see --key-format)
    pub key: String,
    /// The value; without it, --value-file or stdin
    pub value: Option<String>,
    /// Read the value from FILE ("-" for stdin)
    #[arg(long, value_name = "FILE", conflicts_with = "value")]
    pub value_file: Option<PathBuf>,
    /// Create the store if DIR is missing or empty
    #[arg(long)]
    pub create: bool,
    /// Expire the key MS milliseconds from now (DataWal::put_expiring): absent to every read from then on
    #[arg(long, value_name = "MS")]
    pub ttl_ms: Option<u64>,
    #[command(flatten)]
    pub key_format: KeyFormat,
    #[command(flatten)]
    pub value_format: ValueFormat,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Store directory
    pub dir: PathBuf,
    /// The key (see --key-format)
    pub key: String,
    #[command(flatten)]
    pub key_format: KeyFormat,
}

#[derive(Debug, Args)]
pub struct RepairArgs {
    /// Store directory
    pub dir: PathBuf,
    /// Repair without asking
    #[arg(long, short)]
    pub yes: bool,
    #[command(flatten)]
    pub key_format: KeyFormat,
}

/// How the store is opened, for the commands that open it as its writer to
/// copy it (nothing is written to it) or to compact it in place.
#[derive(Debug, Args)]
pub struct OpenArgs {
    /// Use hint files: read DIR's at open (and, for compact, write them in
    /// OUT_DIR, or for the new segment with --in-place). Default: on when DIR has any *.hint file
    #[arg(long, conflicts_with = "no_hint_files")]
    pub hint_files: bool,
    /// Use no hint files, even when DIR has some
    #[arg(long)]
    pub no_hint_files: bool,
    /// Open DIR in salvage mode: damage in the active segment followed by CRC-valid frames is
    /// accepted and those frames are left out (reported on stderr); DIR is not modified (not
    /// with compact --in-place: run `dwal repair` first)
    #[arg(long)]
    pub salvage: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Store directory
    pub dir: PathBuf,
    /// Output file, replaced atomically
    pub out: PathBuf,
    #[command(flatten)]
    pub open: OpenArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["out_dir", "in_place"])))]
pub struct CompactArgs {
    /// Store directory (not modified, unless --in-place)
    pub dir: PathBuf,
    /// New store directory for the compacted copy; must be absent or empty
    pub out_dir: Option<PathBuf>,
    /// Compact DIR itself instead of writing a copy (no OUT_DIR)
    #[arg(long, conflicts_with_all = ["segment_bytes_max", "salvage"])]
    pub in_place: bool,
    /// Start a new segment in OUT_DIR before one would grow past BYTES (default: no limit)
    #[arg(long, value_name = "BYTES", value_parser = clap::value_parser!(u64).range(1..))]
    pub segment_bytes_max: Option<u64>,
    #[command(flatten)]
    pub open: OpenArgs,
}
