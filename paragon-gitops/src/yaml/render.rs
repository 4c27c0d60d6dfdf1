//! How a value is written so that it loads as a string: which scalars a
//! YAML 1.1 or 1.2 loader reads as something else, and quoting.

use saphyr_parser::ScalarStyle;

/// Whether some YAML 1.1 or 1.2 loader could read `v`, written plain, as
/// something other than a string: null, a boolean, an integer or a float.
///
/// The rules are the union of YAML 1.2's core schema and the YAML 1.1
/// types as loaders implement them (PyYAML, SnakeYAML, go-yaml): 1.1's
/// `yes`/`no`/`on`/`off`/`y`/`n`, octal `010`, binary `0b1`, sexagesimal
/// `1:20`, `_` separators, and floats with one decimal point (`1.20`,
/// `1e3`, `.5`), and 1.1 timestamps (`2024-01-15`). A version with
/// several dots (`1.29.3`) is a string to every one of them.
pub fn loads_as_non_string(v: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "true", "True", "TRUE", "false", "False", "FALSE", "yes",
        "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN",
    ];
    WORDS.contains(&v) || is_int(v) || is_float(v) || is_timestamp(v)
}

/// A YAML 1.1 timestamp: `YYYY-MM-DD`, or `YYYY-M-D` followed by `T`, `t`
/// or spaces and a time.
pub(super) fn is_timestamp(v: &str) -> bool {
    let date_end = v.find(['T', 't', ' ', '\t']).unwrap_or(v.len());
    let parts: Vec<&str> = v[..date_end].split('-').collect();
    let [year, month, day] = parts.as_slice() else {
        return false;
    };
    let digits = |s: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&s.len()) && s.chars().all(|c| c.is_ascii_digit())
    };
    if !digits(year, 4..=4) {
        return false;
    }
    if date_end == v.len() {
        return digits(month, 2..=2) && digits(day, 2..=2);
    }
    let time = v[date_end..].trim_start_matches(['T', 't', ' ', '\t']);
    digits(month, 1..=2)
        && digits(day, 1..=2)
        && time.split(':').take(3).count() == 3
        && time.chars().next().is_some_and(|c| c.is_ascii_digit())
}

/// `0b…`, `0o…`, `0x…`, octal or decimal digits (with `_`), or a 1.1
/// sexagesimal integer (`1:20`, `-3:25:45`), optionally signed.
pub(super) fn is_int(v: &str) -> bool {
    let digits =
        |s: &str, ok: fn(char) -> bool| !s.is_empty() && s.chars().all(|c| ok(c) || c == '_');
    let s = v.strip_prefix(['+', '-']).unwrap_or(v);
    for (prefix, ok) in [
        ("0x", (|c: char| c.is_ascii_hexdigit()) as fn(char) -> bool),
        ("0o", |c: char| matches!(c, '0'..='7')),
        ("0b", |c: char| matches!(c, '0' | '1')),
    ] {
        if let Some(rest) = s.strip_prefix(prefix) {
            return digits(rest, ok);
        }
    }
    let decimal = |c: char| c.is_ascii_digit();
    match s.split_once(':') {
        None => s.starts_with(|c: char| c.is_ascii_digit()) && digits(s, decimal),
        Some((head, rest)) => {
            s.starts_with(|c: char| c.is_ascii_digit())
                && digits(head, decimal)
                && rest.split(':').all(sexagesimal_part)
        }
    }
}

/// One `:`-separated part after the first of a sexagesimal number: one or
/// two digits, at most 59.
pub(super) fn sexagesimal_part(part: &str) -> bool {
    (1..=2).contains(&part.len())
        && part.chars().all(|c| c.is_ascii_digit())
        && part.parse::<u8>().is_ok_and(|n| n < 60)
}

/// A float: digits with at most one `.` and an optional exponent (YAML
/// 1.2 takes `1e3`, 1.1 loaders `1.0e+3`, `1.`, `.5`), or a 1.1
/// sexagesimal float (`1:20.5`), optionally signed.
pub(super) fn is_float(v: &str) -> bool {
    let s = v.strip_prefix(['+', '-']).unwrap_or(v);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if let Some(exp) = exponent {
        let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
        if exp.is_empty() || !exp.chars().all(|c| c.is_ascii_digit()) {
            return false;
        }
    }
    if let Some((whole, fraction)) = mantissa.split_once('.') {
        if whole.contains(':') {
            // Sexagesimal: `1:20.5`.
            return exponent.is_none()
                && is_int(whole)
                && fraction.chars().all(|c| c.is_ascii_digit() || c == '_');
        }
        let digits = |x: &str| x.chars().all(|c| c.is_ascii_digit() || c == '_');
        let has_digit = whole
            .chars()
            .chain(fraction.chars())
            .any(|c| c.is_ascii_digit());
        return has_digit
            && digits(whole)
            && digits(fraction)
            && !whole.starts_with('_')
            && !fraction.starts_with('_');
    }
    // No point: only with an exponent is it a float (`1e3`).
    exponent.is_some() && !mantissa.is_empty() && mantissa.chars().all(|c| c.is_ascii_digit())
}

/// Whether `v` can be written as a plain scalar and read back unchanged
/// as a string.
pub(super) fn plain_ok(v: &str, flow: bool) -> bool {
    !loads_as_non_string(v)
        && !v.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`".contains(c) || c.is_whitespace())
        && !v.ends_with(|c: char| c.is_whitespace() || c == ':')
        && !v.contains(": ")
        && !v.contains(" #")
        && !v.chars().any(char::is_control)
        && !(flow && v.contains(|c: char| ",[]{}".contains(c)))
}

pub(super) fn double_quoted(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `v` as a scalar that loads as the string `v`, in `style` where it can.
pub(super) fn render(v: &str, style: ScalarStyle, flow: bool) -> String {
    match style {
        ScalarStyle::DoubleQuoted => double_quoted(v),
        ScalarStyle::SingleQuoted if !v.chars().any(char::is_control) => {
            format!("'{}'", v.replace('\'', "''"))
        }
        _ if plain_ok(v, flow) => v.to_owned(),
        _ => double_quoted(v),
    }
}
