//! The pickle of a PyTorch checkpoint (`data.pkl`) parsed as data, by candle's `pickle::Stack`
//! (GLOBAL becomes a class name, REDUCE a call *description*, persistent ids stay ids: nothing is
//! ever imported or called), driven one opcode at a time so that three rules hold before any
//! object is built from the next one:
//!
//! - every class the pickle names is in [`ALLOWED`] (what `torch.save` of a state dict writes),
//!   checked when its GLOBAL is read, so a class candle would fold away is refused too;
//! - objects nest at most [`MAX_DEPTH`] deep (dropping a deeper tree would overflow the stack);
//! - the parser creates at most [`MAX_NODES`] objects, counting the copies it makes into and out
//!   of its memo, checked before each copy (a memo "bomb" doubles its size with a few bytes).

use std::collections::HashMap;
use std::io::Cursor;

use candle_core::pickle::{Object, OpCode, Stack};

/// Deepest nesting accepted (a state dict's tensors nest about 8 deep).
pub const MAX_DEPTH: u32 = 64;
/// Most objects the parser may create (a BERT-base state dict creates about 18 000, some 90 a
/// tensor: room for about 45 000 tensors).
pub const MAX_NODES: u64 = 1 << 22;

/// The classes a state dict's pickle references (torch 1.6 … 2.15): containers, the functions
/// that rebuild tensors and Parameters, storage types and the dtypes `_rebuild_tensor_v3` names.
/// `(module, names separated by spaces)`. Which of them can be *loaded* is decided afterwards
/// ([`super::pytorch`]): a float64 storage is allowed here and refused there, naming its tensor.
pub const ALLOWED: &[(&str, &str)] = &[
    ("collections", "OrderedDict"),
    (
        "torch._utils",
        "_rebuild_tensor_v2 _rebuild_tensor_v3 _rebuild_parameter _rebuild_parameter_with_state",
    ),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch.storage", "UntypedStorage"),
    ("torch", "Tensor"),
    // Storage types (torch.save writes these legacy names for every dtype that has one).
    (
        "torch",
        "FloatStorage HalfStorage BFloat16Storage DoubleStorage LongStorage IntStorage \
         ShortStorage CharStorage ByteStorage BoolStorage ComplexFloatStorage \
         ComplexDoubleStorage QInt8Storage QInt32Storage QUInt8Storage QUInt4x2Storage \
         QUInt2x4Storage",
    ),
    // The dtypes `_rebuild_tensor_v3` names (those without a storage type).
    (
        "torch",
        "uint16 uint32 uint64 float8_e5m2 float8_e4m3fn float8_e5m2fnuz float8_e4m3fnuz \
         float8_e8m0fnu float4_e2m1fn_x2 complex32",
    ),
];

/// Why a pickle was not parsed.
#[derive(Debug, PartialEq, Eq)]
pub enum PickleError {
    /// It references a class outside [`ALLOWED`] (`module.name`).
    Refused(String),
    /// It is damaged, of an unsupported protocol, or beyond the limits.
    Malformed(String),
}

fn allowed(module: &str, name: &str) -> bool {
    ALLOWED
        .iter()
        .any(|(m, names)| *m == module && names.split_whitespace().any(|n| n == name))
}

/// The `n`-byte little-endian argument of the opcode at `pos`.
fn arg(pkl: &[u8], pos: usize, n: usize) -> u32 {
    let mut b = [0u8; 4];
    if let Some(bytes) = pkl.get(pos + 1..pos + 1 + n) {
        b[..n].copy_from_slice(bytes);
    }
    u32::from_le_bytes(b)
}

/// Depth and size of an object on the stack or in the memo, as far as the limits go (`None`: a
/// MARK).
type Meta = Option<(u32, u64)>;

/// candle's stack and memo, mirrored as depths and sizes: enough to refuse a pickle before it
/// nests too deep or grows too large.
#[derive(Default)]
struct Mirror {
    stack: Vec<Meta>,
    memo: HashMap<u32, Meta>,
    created: u64,
}

impl Mirror {
    fn pop(&mut self) -> (u32, u64) {
        self.stack.pop().flatten().unwrap_or((1, 1))
    }

    fn pop_to_mark(&mut self) -> Vec<(u32, u64)> {
        let at = self.stack.iter().rposition(Option::is_none).unwrap_or(0);
        self.stack.split_off(at).into_iter().flatten().collect()
    }

    /// Pushes an object holding `items`.
    fn wrap(&mut self, items: &[(u32, u64)]) {
        let depth = items.iter().map(|m| m.0).max().unwrap_or(0) + 1;
        let size = items.iter().map(|m| m.1).sum::<u64>() + 1;
        self.created += 1;
        self.stack.push(Some((depth, size)));
    }

    /// Adds `items` to the container on top of the stack.
    fn extend(&mut self, items: &[(u32, u64)]) {
        if let Some(Some((depth, size))) = self.stack.last_mut() {
            for (d, s) in items {
                *depth = (*depth).max(d + 1);
                *size += s;
            }
        }
    }

    fn leaf(&mut self, size: u64) {
        self.created += size;
        self.stack.push(Some((1, size)));
    }

    /// How many objects candle copies to execute `op` (whose argument bytes follow `pos` in
    /// `pkl`): BINGET copies a memo entry onto the stack, BINPUT the top of the stack into the memo.
    fn copies(&self, op: &OpCode, pkl: &[u8], pos: usize) -> u64 {
        let arg = |n| arg(pkl, pos, n);
        let meta = match op {
            OpCode::BinGet => self.memo.get(&arg(1)).copied().flatten(),
            OpCode::LongBinGet => self.memo.get(&arg(4)).copied().flatten(),
            OpCode::BinPut | OpCode::LongBinPut => self.stack.last().copied().flatten(),
            _ => None,
        };
        meta.map_or(0, |m| m.1)
    }

    /// Updates the mirror for `op` (whose argument bytes follow `pos` in `pkl`), which candle has
    /// just executed successfully.
    fn apply(&mut self, op: &OpCode, pkl: &[u8], pos: usize) {
        let arg = |n| arg(pkl, pos, n);
        match op {
            OpCode::Proto | OpCode::Stop => {}
            OpCode::Mark => {
                // A mark costs candle a stack slot: counted, so that a run of marks is bounded.
                self.created += 1;
                self.stack.push(None);
            }
            OpCode::BinUnicode => self.leaf(1 + u64::from(arg(4)) / 32),
            OpCode::Global
            | OpCode::BinInt
            | OpCode::BinInt1
            | OpCode::BinInt2
            | OpCode::BinFloat
            | OpCode::Long1
            | OpCode::None
            | OpCode::NewTrue
            | OpCode::NewFalse
            | OpCode::EmptyTuple
            | OpCode::EmptyList
            | OpCode::EmptyDict => self.leaf(1),
            OpCode::BinPersId => {
                let item = self.pop();
                self.wrap(&[item]);
            }
            OpCode::Tuple | OpCode::Dict => {
                let items = self.pop_to_mark();
                self.wrap(&items);
            }
            OpCode::Tuple1 | OpCode::Tuple2 | OpCode::Tuple3 => {
                let n = match op {
                    OpCode::Tuple1 => 1,
                    OpCode::Tuple2 => 2,
                    _ => 3,
                };
                let mut items: Vec<_> = (0..n).map(|_| self.pop()).collect();
                items.reverse();
                self.wrap(&items);
            }
            OpCode::Reduce | OpCode::NewObj | OpCode::Build => {
                let args = self.pop();
                let callable = self.pop();
                self.wrap(&[callable, args]);
            }
            OpCode::Append => {
                let item = self.pop();
                self.extend(&[item]);
            }
            OpCode::SetItem => {
                let value = self.pop();
                let key = self.pop();
                self.extend(&[key, value]);
            }
            OpCode::Appends | OpCode::SetItems => {
                let items = self.pop_to_mark();
                self.extend(&items);
            }
            OpCode::BinGet | OpCode::LongBinGet => {
                let id = if *op == OpCode::BinGet {
                    arg(1)
                } else {
                    arg(4)
                };
                let meta = self.memo.get(&id).copied().flatten();
                self.created += 1;
                self.stack.push(meta);
            }
            OpCode::BinPut | OpCode::LongBinPut => {
                let id = if *op == OpCode::BinPut {
                    arg(1)
                } else {
                    arg(4)
                };
                let top = self.stack.last().copied().flatten();
                // Each entry costs candle a slot of its memo: counted, as stack objects are.
                self.created += 1;
                self.memo.insert(id, top);
            }
        }
    }

    /// The limit the last operation broke, if any.
    fn check(&self) -> Result<(), PickleError> {
        if let Some(Some((depth, _))) = self.stack.last() {
            if *depth > MAX_DEPTH {
                return Err(PickleError::Malformed(format!(
                    "objects nest more than {MAX_DEPTH} deep"
                )));
            }
        }
        if self.created > MAX_NODES {
            return Err(PickleError::Malformed(format!(
                "more than {MAX_NODES} objects (a memo bomb?)"
            )));
        }
        Ok(())
    }
}

/// Parses `pkl` into its object tree, under the rules of this module.
pub fn parse(pkl: &[u8]) -> Result<Object, PickleError> {
    let malformed = |what: String| PickleError::Malformed(what);
    let mut stack = Stack::empty();
    let mut mirror = Mirror::default();
    let mut reader = Cursor::new(pkl);
    loop {
        let pos = reader.position() as usize;
        let byte = *pkl.get(pos).ok_or_else(|| {
            malformed("the pickle ends before its STOP opcode (truncated)".into())
        })?;
        let op = OpCode::try_from(byte).map_err(|b| {
            malformed(format!(
                "unsupported pickle opcode 0x{b:02x} at byte {pos} (torch.save writes protocol 2)"
            ))
        })?;
        let rest = pkl.len() - pos - 1;
        let need = match op {
            OpCode::Long1 => match pkl.get(pos + 1) {
                Some(&n) if n > 8 => {
                    return Err(malformed(format!("an integer of {n} bytes at byte {pos}")))
                }
                Some(&n) => 1 + usize::from(n),
                None => 1,
            },
            OpCode::BinUnicode => 4usize.saturating_add(arg(pkl, pos, 4) as usize),
            // Module and name, each ended by a newline (within 1 KiB).
            OpCode::Global => match pkl[pos + 1..]
                .iter()
                .take(1024)
                .filter(|&&b| b == b'\n')
                .nth(1)
            {
                Some(_) => 0,
                None => usize::MAX,
            },
            _ => 0,
        };
        if need > rest {
            return Err(malformed(format!("truncated at byte {pos}")));
        }
        mirror.created += mirror.copies(&op, pkl, pos);
        mirror.check()?;
        let stopped = stack
            .read(&mut reader)
            .map_err(|e| malformed(format!("at byte {pos}: {}", first_line(&e.to_string()))))?;
        if op == OpCode::Global {
            if let Some(Object::Class {
                module_name,
                class_name,
            }) = stack.stack().last()
            {
                if !allowed(module_name, class_name) {
                    return Err(PickleError::Refused(format!("{module_name}.{class_name}")));
                }
            }
        }
        mirror.apply(&op, pkl, pos);
        mirror.check()?;
        if stopped {
            return stack
                .finalize()
                .map_err(|e| malformed(format!("at its STOP opcode: {e}")));
        }
    }
}

/// The first line of an error message (candle appends a backtrace when `RUST_BACKTRACE` is set).
fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A protocol-2 pickle of `body` followed by STOP.
    fn pickle(body: &[u8]) -> Vec<u8> {
        let mut p = vec![0x80, 2];
        p.extend_from_slice(body);
        p.push(b'.');
        p
    }

    #[test]
    fn a_dict_of_plain_values_parses() {
        // {'a': 1}
        let p = pickle(b"}X\x01\x00\x00\x00aK\x01s");
        let obj = parse(&p).unwrap();
        assert_eq!(
            obj,
            Object::Dict(vec![(Object::Unicode("a".into()), Object::Int(1))])
        );
    }

    #[test]
    fn classes_outside_the_allow_list_are_refused_where_read() {
        for (module, name) in [
            ("posix", "system"),
            ("builtins", "eval"),
            ("__main__", "Evil"),
            ("torch.nn.modules.linear", "Linear"),
        ] {
            let p = pickle(format!("c{module}\n{name}\n").as_bytes());
            assert_eq!(
                parse(&p),
                Err(PickleError::Refused(format!("{module}.{name}")))
            );
        }
        // collections.defaultdict: candle folds its REDUCE into an empty dict, losing the
        // class; the GLOBAL is refused before that.
        let p = pickle(b"ccollections\ndefaultdict\ncposix\nsystem\n\x85R");
        assert_eq!(
            parse(&p),
            Err(PickleError::Refused("collections.defaultdict".into()))
        );
        let p = pickle(b"ccollections\nOrderedDict\n)R");
        assert_eq!(parse(&p), Ok(Object::Dict(vec![])));
    }

    #[test]
    fn deep_nesting_is_refused() {
        // ((((…()…)))) 100 deep: one byte a level.
        let mut body = vec![b')'];
        body.extend(std::iter::repeat_n(0x85u8, 100));
        let err = parse(&pickle(&body)).unwrap_err();
        assert!(
            matches!(&err, PickleError::Malformed(m) if m.contains("nest")),
            "{err:?}"
        );
        let mut body = vec![b')'];
        body.extend(std::iter::repeat_n(0x85u8, 50));
        assert!(parse(&pickle(&body)).is_ok());
    }

    #[test]
    fn memo_bombs_are_refused() {
        // x = []; then 40 times: x = (x, x) through the memo: 2^40 objects from 300 bytes.
        let mut body = b"]q\x00".to_vec();
        for _ in 0..40 {
            body.extend_from_slice(b"h\x00h\x00\x86q\x00");
        }
        let err = parse(&pickle(&body)).unwrap_err();
        assert!(
            matches!(&err, PickleError::Malformed(m) if m.contains("objects")),
            "{err:?}"
        );
    }

    #[test]
    fn marks_and_memo_entries_are_counted() {
        // 5M marks then an empty dict: each mark is a stack slot of candle's.
        let mut body = vec![b'('; 5_000_000];
        body.extend_from_slice(b"}");
        let err = parse(&pickle(&body)).unwrap_err();
        assert!(
            matches!(&err, PickleError::Malformed(m) if m.contains("objects")),
            "{err:?}"
        );
    }

    #[test]
    fn damaged_pickles_are_errors_not_panics() {
        let cases: Vec<Vec<u8>> = vec![
            vec![],
            vec![0x80, 2],
            pickle(b"\x8a\x09\x01\x02\x03\x04\x05\x06\x07\x08\x09"),
            pickle(b"X\xff\xff\xff\xffab"),
            pickle(b"h\x07"),
            pickle(b"t"),
            pickle(b"K\x01a"),
            pickle(b"\x8c\x01a"),
            vec![0x80, 2, b'c', b'o', b's'],
        ];
        for p in cases {
            assert!(matches!(parse(&p), Err(PickleError::Malformed(_))), "{p:?}");
        }
    }
}
