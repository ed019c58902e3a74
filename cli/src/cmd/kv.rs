//! `dwal get | put | delete`: one key at a time. `get` reads without the
//! lock; `put` and `delete` open the store as its writer and make the write
//! durable before they return.

use std::io::{IsTerminal, Read};
use std::path::Path;

use datawal::segment::segment_file_name;
use datawal::{DataWal, RecordLogReader};
use serde_json::json;

use crate::bytes::Format;
use crate::cli::{DeleteArgs, GetArgs, PutArgs};
use crate::exit::{fail, Code};
use crate::output::{self, exact, human};
use crate::progress;
use crate::store::Store;

pub fn get(args: &GetArgs, json: bool) -> anyhow::Result<Code> {
    let store = Store::existing(&args.dir)?;
    let keys = args.key_format.key_format;
    let key = keys.decode_arg("KEY", &args.key)?;
    let value = lookup(&store, &key)?.ok_or_else(|| {
        fail(Code::NotFound, format!("key {} has no live value in {}", keys.show(&key), args.dir.display()))
    })?;
    show_value(args, &key, &value, json)?;
    Ok(Code::Ok)
}

/// `get`'s output: the value on stdout (text or JSON) or in `--out FILE`.
fn show_value(args: &GetArgs, key: &[u8], value: &[u8], json: bool) -> anyhow::Result<()> {
    let (keys, values) = (args.key_format.key_format, args.value_format.value_format);
    match (&args.out, json) {
        (Some(path), _) => {
            let bytes = match values {
                Format::Utf8 => value.to_vec(),
                other => other.encode("value", value)?.into_bytes(),
            };
            std::fs::write(path, bytes)
                .map_err(|e| fail(Code::Failure, format!("write {}: {e}", path.display())))?;
            if json {
                output::json(&json!({"key": keys.encode("key", key)?, "bytes": value.len(), "out": path}))?;
            }
            Ok(())
        }
        (None, true) => output::json(&json!({
            "key": keys.encode("key", key)?,
            "value": values.encode("value", value)?,
        })),
        (None, false) => {
            let text = values.encode("value", value).map_err(|_| {
                fail(Code::Usage, "the value is not UTF-8: use --value-format hex or base64, or --out FILE")
            })?;
            output::text(&format!("{text}\n"))
        }
    }
}

/// The live value of `key`, without the lock: the library walks the log
/// noting where the key's latest put or delete is, then reads and verifies
/// that one value; no other value is loaded.
fn lookup(store: &Store, key: &[u8]) -> anyhow::Result<Option<Vec<u8>>> {
    let spinner = progress::spinner(store.total_bytes(), "get");
    let found = RecordLogReader::open(&store.dir).and_then(|reader| reader.get(key));
    spinner.finish_and_clear();
    found
}

pub fn put(args: &PutArgs, json: bool) -> anyhow::Result<Code> {
    let keys = args.key_format.key_format;
    let key = keys.decode_arg("KEY", &args.key)?;
    let value = read_value(args)?;
    let (txid, expires) = write(&args.dir, args.create, |wal| match args.ttl_ms {
        None => wal.put(&key, &value).map(|()| None),
        Some(ms) => {
            wal.put_expiring(&key, &value, std::time::Duration::from_millis(ms))?;
            wal.expires_at(&key)
        }
    })?;
    let expires_ms =
        expires.map(|at| at.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64));
    if json {
        output::json(&json!({
            "op": "put", "key": keys.encode("key", &key)?, "bytes": value.len(), "txid": txid,
            "expires_at_ms": expires_ms,
        }))
    } else {
        let expiry = expires_ms.map_or(String::new(), |ms| format!(", expires at {ms} ms since the epoch"));
        output::text(&format!(
            "put {} ({}) at txid {txid}{expiry}\n",
            keys.show(&key),
            human(value.len() as u64)
        ))
    }?;
    Ok(Code::Ok)
}

pub fn delete(args: &DeleteArgs, json: bool) -> anyhow::Result<Code> {
    let keys = args.key_format.key_format;
    let key = keys.decode_arg("KEY", &args.key)?;
    let (txid, existed) = write(&args.dir, false, |wal| {
        let existed = wal.contains_key(&key);
        wal.delete(&key).map(|()| existed)
    })?;
    let shown = keys.show(&key);
    if json {
        output::json(
            &json!({"op": "delete", "key": keys.encode("key", &key)?, "existed": existed, "txid": txid}),
        )
    } else if existed {
        output::text(&format!("deleted {shown} at txid {txid}\n"))
    } else {
        output::text(&format!("{shown} had no live value; tombstone written at txid {txid}\n"))
    }?;
    Ok(Code::Ok)
}

/// Open the store in `dir` as its writer (creating it only if `create`),
/// run `op`, make it durable. Returns the txid written and what `op` did.
fn write<T>(
    dir: &Path,
    create: bool,
    op: impl FnOnce(&mut DataWal) -> anyhow::Result<T>,
) -> anyhow::Result<(u64, T)> {
    if create {
        Store::check_creatable(dir)?;
    } else if !dir.exists() {
        return Err(fail(Code::Usage, format!("{}: no such store (put --create makes one)", dir.display())));
    } else {
        Store::existing(dir)?;
    }
    let mut wal = DataWal::open(dir)?;
    let done = op(&mut wal)?;
    wal.fsync()?;
    note_torn_tail(&wal);
    Ok((wal.log().last_txid(), done))
}

/// Say so when the write moved a torn tail aside: the store changed more
/// than the one record.
fn note_torn_tail(wal: &DataWal) {
    let Some(t) = wal.log().torn_tail() else { return };
    let how = if t.all_zero { "cut off (all zero)" } else { "moved into a side file" };
    eprintln!(
        "datawal: note: the torn tail of {} at {} offset {} was {how} before writing",
        exact(t.len),
        segment_file_name(t.segment),
        t.offset
    );
}

/// Largest input read for a value: enough for the largest payload in any
/// of the formats (hex doubles it), with room for a trailing newline.
const VALUE_INPUT_MAX: u64 = 2 * datawal::MAX_PAYLOAD_LEN as u64 + 2;

/// The value from the argument, `--value-file` (`-` is stdin), or stdin.
fn read_value(args: &PutArgs) -> anyhow::Result<Vec<u8>> {
    let format = args.value_format.value_format;
    if let Some(text) = &args.value {
        return format.decode_arg("VALUE", text);
    }
    let (what, input): (String, Box<dyn Read>) =
        match &args.value_file {
            Some(path) if path != Path::new("-") => (
                format!("value file {}", path.display()),
                Box::new(std::fs::File::open(path).map_err(|e| {
                    fail(Code::Usage, format!("cannot read value file {}: {e}", path.display()))
                })?),
            ),
            Some(_) => ("stdin".into(), Box::new(std::io::stdin())),
            None if std::io::stdin().is_terminal() => {
                return Err(fail(
                    Code::Usage,
                    "put needs a value: give VALUE, --value-file FILE, or pipe it on stdin",
                ))
            }
            None => ("stdin".into(), Box::new(std::io::stdin())),
        };
    let mut bytes = Vec::new();
    input.take(VALUE_INPUT_MAX + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > VALUE_INPUT_MAX {
        return Err(fail(Code::Usage, format!("{what} is larger than any value a store can hold")));
    }
    format.decode(&what, &bytes)
}
