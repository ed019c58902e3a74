//! Writing results: JSON for scripts, text for people, both on stdout; and
//! the shape of a problem, shared by `inspect`, `verify` and `repair`.

use std::io::Write;

use datawal::inspect::{Problem, Verdict};
use datawal::segment::segment_file_name;
use serde::Serialize;

/// Write `text` to stdout (a write error, e.g. a closed pipe, is returned).
pub fn text(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Write `value` as one line of JSON on stdout.
pub fn json(value: &impl Serialize) -> anyhow::Result<()> {
    text(&format!("{}\n", serde_json::to_string(value)?))
}

/// A byte count for people: exact below 1 KiB, else in binary units.
pub fn human(bytes: u64) -> String {
    if bytes < 1024 {
        exact(bytes)
    } else {
        indicatif::BinaryBytes(bytes).to_string()
    }
}

/// An exact byte count (offsets, lengths a person may act on).
pub fn exact(bytes: u64) -> String {
    format!("{bytes} B")
}

/// A problem as JSON.
#[derive(Debug, Serialize)]
pub struct ProblemOut {
    pub file: String,
    pub segment: u32,
    pub offset: u64,
    /// Bytes to the next CRC-valid frame or to the end of the file.
    pub len: u64,
    pub class: &'static str,
    pub verdict: &'static str,
    pub valid_frames_after: u64,
    pub detail: String,
}

impl From<&Problem> for ProblemOut {
    fn from(p: &Problem) -> Self {
        ProblemOut {
            file: segment_file_name(p.segment),
            segment: p.segment,
            offset: p.offset,
            len: p.len,
            class: p.class.name(),
            verdict: p.verdict.name(),
            valid_frames_after: p.valid_frames_after,
            detail: p.detail.clone(),
        }
    }
}

/// Problems as text, two lines each: where and what, then what it means.
/// `active_segment` is the highest segment id.
pub fn problems_text<'a>(problems: impl IntoIterator<Item = &'a Problem>, active_segment: u32) -> String {
    let mut text = String::new();
    let mut previous: Option<u32> = None;
    for p in problems {
        let after_damage = previous == Some(p.segment) && p.segment == active_segment;
        text.push_str(&problem_text(p, active_segment, after_damage));
        previous = Some(p.segment);
    }
    text
}

fn problem_text(p: &Problem, active_segment: u32, after_damage: bool) -> String {
    let consequence = match p.verdict {
        _ if after_damage => {
            "after the damage above in the same segment: `dwal repair` drops it with that".to_owned()
        }
        Verdict::TornTail => "torn tail: the store opens without these bytes; the next write \
                              (or `dwal repair`) moves them into a side file"
            .to_owned(),
        Verdict::Salvageable => format!(
            "the store does not open: {} CRC-valid frame(s) follow; `dwal repair` can drop them \
             (the bytes are kept in a side file)",
            p.valid_frames_after
        ),
        Verdict::Fatal if p.segment != active_segment => {
            "the store does not open: damage in a sealed segment (`dwal repair` cannot fix this)".to_owned()
        }
        Verdict::Fatal => {
            "the store does not open: not a version-1 frame (`dwal repair` cannot fix this)".to_owned()
        }
    };
    format!(
        "  {} offset {}: {} ({}): {}\n    {}\n",
        segment_file_name(p.segment),
        p.offset,
        p.class.name(),
        exact(p.len),
        p.detail,
        consequence
    )
}
