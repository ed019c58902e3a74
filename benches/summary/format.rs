//! How the summary shows numbers: values, ratios and plain-text tables
//! (markdown pipes, aligned for the console too).

/// `v` with a precision that follows its size, then `unit` (if any);
/// `n/a` when not measured.
pub(crate) fn fmt_val(v: Option<f64>, unit: &str) -> String {
    match v {
        None => "n/a".into(),
        Some(x) => {
            let s = if x >= 100.0 {
                format!("{:.0}", x)
            } else if x >= 10.0 {
                format!("{:.1}", x)
            } else if x >= 0.1 {
                format!("{:.2}", x)
            } else {
                format!("{:.4}", x)
            };
            if unit.is_empty() {
                s
            } else {
                format!("{s} {unit}")
            }
        }
    }
}

/// `a / b` when both were measured.
pub(crate) fn ratio_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(a? / b?)
}

/// `r` as `1.23x`; `n/a` when not measured.
pub(crate) fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{r:.2}x"))
}

/// `r` as a percentage (`45 %`); `n/a` when not measured.
pub(crate) fn fmt_percent(r: Option<f64>) -> String {
    r.map_or("n/a".into(), |r| format!("{:.0} %", r * 100.0))
}

/// Plain-text table with aligned columns; markdown pipes.
pub(crate) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let parts: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(w[i] - c.chars().count())))
            .collect();
        format!("| {} |\n", parts.join(" | "))
    };
    let mut out = line(header.iter().map(|s| s.to_string()).collect());
    out += &line(w.iter().map(|&n| "-".repeat(n)).collect());
    for r in rows {
        out += &line(r.clone());
    }
    out
}

pub(crate) const MIB: f64 = 1024.0 * 1024.0;
