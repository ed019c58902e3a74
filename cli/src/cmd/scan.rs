//! `dwal scan DIR`: records in log order, streamed, without the lock.

use std::io::Write;
use std::ops::ControlFlow;

use datawal::segment::segment_file_name;
use datawal::{Record, RecordType};
use serde::Serialize;

use crate::bytes::{preview, Format};
use crate::cli::ScanArgs;
use crate::exit::Code;
use crate::output::exact;
use crate::store::Store;

/// Characters of a value shown per line in text output.
const VALUE_PREVIEW_CHARS: usize = 64;

#[derive(Serialize)]
struct RecordOut {
    txid: u64,
    #[serde(rename = "type")]
    kind: &'static str,
    segment: u32,
    offset: u64,
    len: u32,
    key: String,
    /// The payload; `null` for a delete.
    value: Option<String>,
}

pub fn run(args: &ScanArgs, json: bool) -> anyhow::Result<Code> {
    let store = Store::existing(&args.dir)?;
    let (keys, values) = (args.key.key_format, args.value.value_format);
    let from = args.from_txid.unwrap_or(0);
    let mut left = args.limit.unwrap_or(u64::MAX);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let torn = store.records("scan", true, &mut |record| {
        if left == 0 {
            return Ok(ControlFlow::Break(()));
        }
        if record.txid >= from {
            left -= 1;
            let line = if json {
                json_line(&record, keys, values)?
            } else {
                text_line(&record, record.payload.len(), keys, values)
            };
            writeln!(out, "{line}")?;
        }
        Ok(ControlFlow::Continue(()))
    })?;
    out.flush()?;
    if let Some(t) = torn {
        eprintln!(
            "datawal: note: the log ends in a torn tail of {} at {} offset {} (not shown; `dwal verify` tells more)",
            exact(t.len),
            segment_file_name(t.segment),
            t.offset
        );
    }
    Ok(Code::Ok)
}

pub(super) fn kind(t: RecordType) -> &'static str {
    match t {
        RecordType::Put => "put",
        RecordType::Delete => "delete",
        RecordType::Raw => "raw",
    }
}

fn json_line(r: &Record, keys: Format, values: Format) -> anyhow::Result<String> {
    let value = match r.record_type {
        RecordType::Delete => None,
        _ => Some(values.encode("value", &r.payload)?),
    };
    let out = RecordOut {
        txid: r.txid,
        kind: kind(r.record_type),
        segment: r.segment,
        offset: r.offset,
        len: r.len,
        key: keys.encode("key", &r.key)?,
        value,
    };
    Ok(serde_json::to_string(&out)?)
}

/// `txid  type  file:offset  key = value`, the value cut to a preview.
/// `payload_len` is the whole payload's size (`r.payload` may be its start).
pub(super) fn text_line(r: &Record, payload_len: usize, keys: Format, values: Format) -> String {
    let at = format!("{}:{}", segment_file_name(r.segment), r.offset);
    let head = format!("{:>8}  {:<6}  {at:<24}", r.txid, kind(r.record_type));
    let value = preview(&values.show(&r.payload), payload_len, VALUE_PREVIEW_CHARS);
    match r.record_type {
        RecordType::Put => format!("{head}  {} = {value}", keys.show(&r.key)),
        RecordType::Delete => format!("{head}  {}", keys.show(&r.key)),
        RecordType::Raw => format!("{head}  {value}"),
    }
}
