//! PyTorch's `pytorch_model.bin` (`torch.save(model.state_dict())`, torch ≥ 1.6: a zip archive
//! of `<name>/data.pkl`, the pickled dict, and `<name>/data/<key>`, one raw storage each) read
//! into the same index as a safetensors file, without Python and without running anything.
//!
//! - The pickle is parsed as data (`weights/pickle.rs`); every class it names must be one a state
//!   dict needs (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2` / `_v3` /
//!   `_rebuild_parameter` / `_rebuild_parameter_with_state`, `torch._tensor._rebuild_from_type_v2`
//!   with `torch.Tensor`, the `torch.*Storage` types, `torch.storage.UntypedStorage` and the
//!   dtypes `_v3` names): anything else (`posix.system`, `builtins.eval`, a pickled
//!   `nn.Module`…) is refused, naming the class.
//! - The top-level object must be a dict of name → tensor; values that are not tensors
//!   (`_metadata`, numbers) are ignored. A dict holding no tensor (a training checkpoint with a
//!   `state_dict` key, say) is not a state dict: odqa does not guess which key holds the model.
//! - f32, f16 and bf16 tensors are indexed; int64 `*position_ids` buffers skipped; any other
//!   type is an error naming the tensor.
//! - Storages are the archive's uncompressed entries, mapped where they lie; a compressed entry
//!   is refused. A tensor is a view of its storage (offset and strides): contiguous views map
//!   directly, others are gathered by their strides when taken; views sharing a storage (tied
//!   weights, a weight and its transpose) all load. A view reaching past its storage is an error
//!   naming the tensor, never padded.
//! - The archive's `byteorder` entry, where there is one (older torch wrote none), must be `little`.
//! - The legacy format (torch < 1.6, not a zip) is refused with what to do instead.

use std::collections::HashMap;
use std::io::Cursor;
use std::ops::Range;
use std::path::Path;

use candle_core::pickle::Object;
use zip::{CompressionMethod, ZipArchive};

use super::pickle::{self, PickleError};
use super::view::View;
use super::{Index, Stored, StoredType};
use crate::error::{ReaderError, Result};

/// True for a zip archive (torch ≥ 1.6 writes one).
pub(super) fn is_zip(map: &[u8]) -> bool {
    map.starts_with(b"PK\x03\x04") || map.starts_with(b"PK\x05\x06")
}

/// True for torch's legacy format: a pickle of the magic number 0x1950a86a20f9469cfc6c first.
pub(super) fn is_legacy(map: &[u8]) -> bool {
    const MAGIC: &[u8] = b"\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";
    map.first() == Some(&0x80)
        && map[..map.len().min(32)]
            .windows(MAGIC.len())
            .any(|w| w == MAGIC)
}

/// The error for a legacy-format file.
pub(super) fn legacy_error(path: &Path) -> ReaderError {
    ReaderError::bad_model(
        path,
        "PyTorch's legacy checkpoint format (torch < 1.6), which odqa does not read: re-save it \
         with a recent torch (`torch.save(torch.load(path, weights_only=True), path)`); odqa then \
         reads it, and `odqa model convert` makes a safetensors copy",
    )
}

/// Where an archive entry's bytes lie in the file, and how they are stored.
struct Entry {
    bytes: Range<usize>,
    compression: CompressionMethod,
}

/// Every entry of the archive `map`, by name.
fn entries(map: &[u8]) -> std::result::Result<HashMap<String, Entry>, String> {
    let mut archive = ZipArchive::new(Cursor::new(map)).map_err(|e| e.to_string())?;
    let mut out = HashMap::with_capacity(archive.len());
    for i in 0..archive.len() {
        let file = archive.by_index_raw(i).map_err(|e| e.to_string())?;
        let start = file
            .data_start()
            .ok_or_else(|| format!("entry {} has no data offset", file.name()))?;
        let end = start.checked_add(file.compressed_size());
        let bytes = match end {
            Some(end) if end <= map.len() as u64 && !file.encrypted() => {
                start as usize..end as usize
            }
            _ => return Err(format!("entry {} lies outside the file", file.name())),
        };
        let compression = file.compression();
        out.insert(file.name().to_string(), Entry { bytes, compression });
    }
    Ok(out)
}

/// A floating-point type, or the name of a type odqa does not load, from a storage class.
fn storage_type(class: &str) -> std::result::Result<StoredType, String> {
    Ok(match class {
        "FloatStorage" => StoredType::F32,
        "HalfStorage" => StoredType::F16,
        "BFloat16Storage" => StoredType::Bf16,
        other => {
            let name = match other {
                "DoubleStorage" => "float64",
                "LongStorage" => "int64",
                "IntStorage" => "int32",
                "ShortStorage" => "int16",
                "CharStorage" => "int8",
                "ByteStorage" => "uint8",
                "BoolStorage" => "bool",
                "ComplexFloatStorage" => "complex64",
                "ComplexDoubleStorage" => "complex128",
                other => other,
            };
            return Err(name.to_string());
        }
    })
}

/// What `_rebuild_tensor_v2` says of a tensor.
struct TensorRef {
    /// The storage class's type, or the name of one odqa does not load.
    ty: std::result::Result<StoredType, String>,
    key: String,
    numel: usize,
    offset: usize,
    shape: Vec<usize>,
    strides: Vec<usize>,
}

fn int(obj: &Object) -> std::result::Result<usize, String> {
    match obj {
        Object::Int(v) => usize::try_from(*v).ok(),
        Object::Long(v) => usize::try_from(*v).ok(),
        _ => None,
    }
    .ok_or_else(|| format!("expected a size, found {obj:?}"))
}

fn ints(obj: &Object) -> std::result::Result<Vec<usize>, String> {
    match obj {
        Object::Tuple(items) => items.iter().map(int).collect(),
        other => Err(format!("expected a tuple of sizes, found {other:?}")),
    }
}

fn class(obj: &Object) -> Option<(&str, &str)> {
    match obj {
        Object::Class {
            module_name,
            class_name,
        } => Some((module_name, class_name)),
        _ => None,
    }
}

/// The tensor `obj` rebuilds, `None` when it is not a tensor (a number, a nested dict…).
fn tensor_ref(obj: &Object) -> std::result::Result<Option<TensorRef>, String> {
    let Object::Reduce { callable, args } = obj else {
        return Ok(None);
    };
    let (Some(callable), Object::Tuple(args)) = (class(callable), &**args) else {
        return Ok(None);
    };
    let arg = |i: usize| {
        args.get(i)
            .ok_or_else(|| format!("{}.{} has {} arguments", callable.0, callable.1, args.len()))
    };
    match callable {
        ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
            tensor_ref(arg(0)?)?
                .map(Some)
                .ok_or("a Parameter of no tensor".into())
        }
        ("torch._tensor", "_rebuild_from_type_v2") => {
            match class(arg(1)?) {
                Some(("torch", "Tensor")) => {}
                other => return Err(format!("a tensor of class {other:?}")),
            }
            let inner = Object::Reduce {
                callable: Box::new(arg(0)?.clone()),
                args: Box::new(arg(2)?.clone()),
            };
            tensor_ref(&inner)?
                .map(Some)
                .ok_or("a tensor of no storage".into())
        }
        ("torch._utils", "_rebuild_tensor_v3") => match class(arg(6)?) {
            Some((_, dtype)) => Err(format!("unsupported type {dtype}")),
            None => Err("_rebuild_tensor_v3 without a dtype".into()),
        },
        ("torch._utils", "_rebuild_tensor_v2") => {
            let Object::PersistentLoad(id) = arg(0)? else {
                return Err("a tensor whose storage is not in the archive".into());
            };
            let storage = match &**id {
                Object::Tuple(s) if s.len() == 5 && s[0] == Object::Unicode("storage".into()) => s,
                other => return Err(format!("unexpected storage id {other:?}")),
            };
            let (Some(("torch", storage_class)), Object::Unicode(key)) =
                (class(&storage[1]), &storage[2])
            else {
                return Err(format!("unexpected storage id {storage:?}"));
            };
            let (shape, strides) = (ints(arg(2)?)?, ints(arg(3)?)?);
            if shape.len() != strides.len() {
                return Err(format!("shape {shape:?} with strides {strides:?}"));
            }
            Ok(Some(TensorRef {
                ty: storage_type(storage_class),
                key: key.clone(),
                numel: int(&storage[4])?,
                offset: int(arg(1)?)?,
                shape,
                strides,
            }))
        }
        _ => Ok(None),
    }
}

/// What kind of object `obj` is, for an error message.
fn describe(obj: &Object) -> String {
    match obj {
        Object::List(_) => "a list".into(),
        Object::Tuple(_) => "a tuple".into(),
        Object::Reduce { callable, .. } | Object::Build { callable, .. } => match class(callable) {
            Some((m, c)) => format!("an object built by {m}.{c}"),
            None => "an object".into(),
        },
        Object::PersistentLoad(_) => "a storage".into(),
        other => format!("{other:?}"),
    }
}

/// The tensors of the archive `map` (the file at `path`), after the checks of this module.
pub(super) fn index(path: &Path, map: &[u8]) -> Result<Index> {
    let bad = |message: String| ReaderError::bad_model(path, message);
    let entries = entries(map).map_err(|e| {
        bad(format!(
            "not a readable PyTorch checkpoint (a damaged or truncated zip archive): {e}"
        ))
    })?;
    let stored = |name: &str| -> Result<Range<usize>> {
        let entry = entries
            .get(name)
            .ok_or_else(|| bad(format!("the archive has no entry {name}")))?;
        if entry.compression != CompressionMethod::Stored {
            return Err(bad(format!(
                "entry {name} is compressed ({}): torch.save stores every entry uncompressed, so \
                 another tool rewrote this archive; re-save it with torch.save",
                entry.compression
            )));
        }
        Ok(entry.bytes.clone())
    };
    let mut pkls = entries
        .keys()
        .filter(|n| n.ends_with("/data.pkl") && n.matches('/').count() == 1);
    let (Some(pkl), None) = (pkls.next(), pkls.next()) else {
        return Err(bad(
            "a zip archive, but not one torch.save wrote (no single <name>/data.pkl)".into(),
        ));
    };
    let dir = pkl.trim_end_matches("data.pkl");
    if entries.contains_key(&format!("{dir}byteorder")) {
        let order = &map[stored(&format!("{dir}byteorder"))?];
        if order != b"little" {
            return Err(bad(format!(
                "stored {} (byteorder), odqa reads little-endian checkpoints",
                String::from_utf8_lossy(order)
            )));
        }
    }
    let root = pickle::parse(&map[stored(pkl)?]).map_err(|e| match e {
        PickleError::Refused(class) => bad(format!(
            "refusing to load: the pickle references {class}, which is not part of a PyTorch \
             state dict (nothing was run)"
        )),
        PickleError::Malformed(m) => bad(format!("{pkl}: {m}")),
    })?;
    let Object::Dict(items) = root else {
        return Err(bad(format!(
            "not a state dict: the pickle holds {} (torch.save(model.state_dict()) writes a dict \
             of tensors)",
            describe(&root)
        )));
    };
    let mut index = Index::default();
    let mut others = Vec::new();
    for (key, value) in &items {
        let Object::Unicode(name) = key else {
            return Err(bad(format!("not a state dict: a key is {}", describe(key))));
        };
        let at = |e: String| bad(format!("tensor {name}: {e}"));
        let Some(t) = tensor_ref(value).map_err(at)? else {
            others.push(name.as_str());
            continue;
        };
        let ty = match t.ty {
            Ok(ty) => ty,
            Err(_) if name.ends_with("position_ids") => {
                index.skipped.push(name.clone());
                continue;
            }
            Err(other) => return Err(at(format!("unsupported type {other}"))),
        };
        let storage = format!("{dir}data/{}", t.key);
        let entry = stored(&storage)?;
        let size = ty.size();
        let numel = t.shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        // One past the last element the view reaches (0 for an empty tensor).
        let extent = numel.and_then(|n| match n {
            0 => Some(0),
            _ => t
                .shape
                .iter()
                .zip(&t.strides)
                .try_fold(t.offset.checked_add(1)?, |e, (&d, &s)| {
                    (d - 1).checked_mul(s).and_then(|x| x.checked_add(e))
                }),
        });
        let available = t.numel.min(entry.len() / size);
        let (Some(numel), Some(extent)) = (numel, extent) else {
            return Err(at(format!("shape {:?} is too large", t.shape)));
        };
        if extent > available {
            return Err(at(format!(
                "its storage {storage} holds {available} elements, the tensor (shape {:?}, \
                 offset {}, strides {:?}) reaches element {extent} (a truncated file?)",
                t.shape, t.offset, t.strides
            )));
        }
        // A state dict's tensors own their elements: a view with more elements than its storage
        // holds (an `expand`ed tensor, strides 0) is refused before anything is gathered.
        if numel > available {
            return Err(at(format!(
                "shape {:?} has {numel} elements but its storage {storage} holds {available} \
                 (an expanded view, which no state dict holds)",
                t.shape
            )));
        }
        let row_major = t
            .shape
            .iter()
            .zip(&t.strides)
            .rev()
            .try_fold(1, |next, (&d, &s)| {
                (d == 1 || s == next).then_some(next * d)
            });
        let (bytes, view) = if numel == 0 || row_major.is_some() {
            // Row-major from its offset (an empty tensor reads nothing).
            let first = entry.start + t.offset.min(extent) * size;
            (first..first + numel * size, None)
        } else {
            (entry, Some(View::new(t.offset, t.strides)))
        };
        let shape = t.shape;
        index.tensors.push((
            name.clone(),
            Stored {
                ty,
                shape,
                bytes,
                view,
            },
        ));
    }
    if index.tensors.is_empty() && index.skipped.is_empty() {
        others.sort_unstable();
        return Err(bad(format!(
            "not a state dict: its dict holds no tensors (keys: {}); odqa reads \
             torch.save(model.state_dict()), not a training checkpoint",
            others.join(", ")
        )));
    }
    Ok(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_types_name_what_is_not_loaded() {
        assert_eq!(storage_type("BFloat16Storage"), Ok(StoredType::Bf16));
        assert_eq!(storage_type("LongStorage"), Err("int64".into()));
        assert_eq!(storage_type("DoubleStorage"), Err("float64".into()));
    }

    #[test]
    fn legacy_files_and_zips_are_told_apart() {
        let legacy = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.\x80\x02";
        assert!(is_legacy(legacy) && !is_zip(legacy));
        assert!(is_zip(b"PK\x03\x04rest") && !is_legacy(b"PK\x03\x04rest"));
        assert!(!is_legacy(b"{\"a\": 1}") && !is_legacy(b""));
    }
}
