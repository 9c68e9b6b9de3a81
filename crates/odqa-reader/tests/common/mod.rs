//! Helpers shared by the reader's integration tests: writable copies of the fixture models and
//! edits of their checkpoint and `config.json`.

#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

/// A committed fixture model directory (`tests/fixtures/reader-parity/NAME`).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/reader-parity")
        .join(name)
}

/// A writable copy of a fixture model directory.
pub fn copy_model(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "model.safetensors", "tokenizer.json"] {
        std::fs::copy(fixture(name).join(file), dir.path().join(file)).unwrap();
    }
    dir
}

/// A checkpoint's tensors by name: type, shape, raw bytes.
pub type Tensors = BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>;

/// Every tensor of the safetensors file at `path`.
pub fn read_tensors(path: &Path) -> Tensors {
    let bytes = std::fs::read(path).unwrap();
    let st = SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(n, v)| (n, (v.dtype(), v.shape().to_vec(), v.data().to_vec())))
        .collect()
}

/// Writes `tensors` as a safetensors file at `path`.
pub fn write_tensors(path: &Path, tensors: &Tensors) {
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
        .iter()
        .map(|(n, (d, s, b))| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, None).unwrap()).unwrap();
}

/// Rewrites `dir/model.safetensors` after `f` changed its tensors.
pub fn edit(dir: &Path, f: impl FnOnce(&mut Tensors)) {
    let path = dir.join("model.safetensors");
    let mut tensors = read_tensors(&path);
    f(&mut tensors);
    write_tensors(&path, &tensors);
}

/// Replaces the f32 tensor `name` by its first elements, reshaped to `shape`.
pub fn truncate(dir: &Path, name: &str, shape: Vec<usize>) {
    edit(dir, |t| {
        let (d, _, bytes) = t[name].clone();
        let len = shape.iter().product::<usize>() * 4;
        t.insert(name.into(), (d, shape, bytes[..len].to_vec()));
    });
}

/// Sets the f32 element `index` of tensor `name` to `value`.
pub fn set_element(dir: &Path, name: &str, index: usize, value: f32) {
    edit(dir, |t| {
        let bytes = &mut t.get_mut(name).unwrap().2;
        bytes[index * 4..index * 4 + 4].copy_from_slice(&value.to_le_bytes());
    });
}

/// Sets `key` of `dir/config.json` to `value` (a JSON literal, e.g. `1000000000000` or `"cnn"`).
pub fn set_config(dir: &Path, key: &str, value: &str) {
    let path = dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    config[key] = serde_json::from_str(value).unwrap();
    std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
}
