//! JSON text as Python's `json.dumps(value, ensure_ascii=False)` writes it (with `indent=2` or
//! without), so that files first written by Python tools come out byte for byte: `", "` and
//! `": "` separators on one line, floats as Python's `repr` (`0.1`, `1e-12`, `-3.0`). Strings are
//! escaped alike by both (`"`, `\`, control characters; no other character escaped). Key order is
//! the value's own (serde_json's `preserve_order`).

use std::io::{self, Write};

use serde::Serialize;
use serde_json::ser::Formatter;

/// Writes `value` as Python's `json.dumps(value, ensure_ascii=False, indent=2 if indent else None)`.
pub fn to_string(value: &serde_json::Value, indent: bool) -> String {
    let mut out = Vec::new();
    let formatter = PyFormatter {
        indent,
        level: 0,
        has_value: false,
    };
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    // Writing a Value to a Vec cannot fail, and the bytes are UTF-8 (serde_json writes only
    // UTF-8): the fallbacks are never taken.
    if value.serialize(&mut ser).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

/// Python's `repr` of a float: the shortest digits that read back as `x`, in positional notation
/// for exponents −4..16 (with at least one decimal), else `d.ddde±XX`.
pub fn float_repr(x: f64) -> String {
    if !x.is_finite() {
        return if x.is_nan() {
            "NaN"
        } else if x > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .into();
    }
    // Rust's `{:e}` gives the shortest digit count that reads back as `x` (`-3.46e0`, `1e-12`),
    // but where two such strings are equally near `x` it may take the upper one; Python takes the
    // nearest, ties to even. Formatting to that many digits rounds exactly, ties to even, and the
    // nearest string of that length reads back whenever any does.
    let shortest = format!("{x:e}");
    let digits = shortest
        .split('e')
        .next()
        .unwrap_or("")
        .bytes()
        .filter(u8::is_ascii_digit);
    let sci = format!("{x:.*e}", digits.count().saturating_sub(1));
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    let point = exp + 1; // digits before the decimal point
    let n = digits.len() as i32;
    if !(-4 < point && point <= 16) {
        let rest = if n > 1 {
            format!(".{}", &digits[1..])
        } else {
            String::new()
        };
        let e = exp.unsigned_abs();
        let esign = if exp < 0 { '-' } else { '+' };
        return format!("{sign}{}{rest}e{esign}{e:02}", &digits[..1]);
    }
    if point <= 0 {
        format!(
            "{sign}0.{}{digits}",
            "0".repeat(point.unsigned_abs() as usize)
        )
    } else if point < n {
        let p = point as usize;
        format!("{sign}{}.{}", &digits[..p], &digits[p..])
    } else {
        format!("{sign}{digits}{}.0", "0".repeat((point - n) as usize))
    }
}

/// serde_json formatter with Python's separators, indentation and float repr.
struct PyFormatter {
    indent: bool,
    level: usize,
    has_value: bool,
}

impl PyFormatter {
    fn newline<W: ?Sized + Write>(&self, w: &mut W) -> io::Result<()> {
        w.write_all(b"\n")?;
        w.write_all("  ".repeat(self.level).as_bytes())
    }

    fn open<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, w: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level -= 1;
        if self.indent && self.has_value {
            self.newline(w)?;
        }
        w.write_all(bracket)
    }

    fn item<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        match (first, self.indent) {
            (true, false) => Ok(()),
            (false, false) => w.write_all(b", "),
            (true, true) => self.newline(w),
            (false, true) => {
                w.write_all(b",")?;
                self.newline(w)
            }
        }
    }
}

impl Formatter for PyFormatter {
    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(float_repr(value).as_bytes())
    }

    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.item(w, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _w: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_read_as_python_repr_writes_them() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (0.02, "0.02"),
            (1e-12, "1e-12"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (-3.4635426998138428, "-3.4635426998138428"),
            // An f32 score, -8.1537628173828125: two 17-digit strings read back; Python takes
            // the even one.
            (f64::from(-8.153_763_f32), "-8.153762817382812"),
            (-20.0, "-20.0"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (2.5e17, "2.5e+17"),
        ];
        for (x, want) in cases {
            assert_eq!(float_repr(x), want, "{x:e}");
        }
    }

    #[test]
    fn layout_is_pythons() {
        let v = serde_json::json!({"a": [1, 2.5, "x\ty"], "b": {}, "c": [], "d": {"e": null}});
        assert_eq!(
            to_string(&v, false),
            r#"{"a": [1, 2.5, "x\ty"], "b": {}, "c": [], "d": {"e": null}}"#
        );
        let pretty = "{\n  \"a\": [\n    1,\n    2.5,\n    \"x\\ty\"\n  ],\n  \"b\": {},\n  \
                      \"c\": [],\n  \"d\": {\n    \"e\": null\n  }\n}";
        assert_eq!(to_string(&v, true), pretty);
    }
}
