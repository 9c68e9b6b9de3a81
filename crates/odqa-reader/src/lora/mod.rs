//! LoRA adapters (Hu et al., 2021): low-rank updates `W + s·B·A` of the encoder's linear layers,
//! in Hugging Face PEFT's on-disk format.
//!
//! - [`Projection`]: a linear layer of the encoder with an optional [`LoraPair`]; its forward pass
//!   adds `s · x·Aᵀ·Bᵀ` (training, the base frozen) until [`Projection::merged`] folds the update
//!   into the weight (reading, which then costs what a full checkpoint costs).
//! - [`LoraSpec`]: rank, scaling (`lora_alpha / r`, or `lora_alpha / √r` with rsLoRA), which
//!   linear layers (PEFT's `target_modules` matching), whether LayerNorms train too.
//! - [`adapter`]: `adapter_config.json` and `adapter_model.safetensors` (PEFT's names, the head
//!   and odqa's CNN tensors under `base_model.model.`), the base a directory names and its sha256.

pub mod adapter;
mod files;
mod merge;

use burn::module::Param;
use burn::nn::{Linear, LinearConfig};
use burn::prelude::*;
use burn::tensor::TensorData;

use std::sync::Arc;

use crate::error::{ReaderError, Result};
use crate::fused::ReaderBackend;
use crate::precision::{Bf16Weights, Int8Weights, PackedLinear, Precision};

pub(crate) use files::apply_adapter;
pub use files::{
    file_sha256, is_adapter_dir, open_model_dir, save_adapter_dir, AdapterDir, ModelDir,
    ModelSource,
};
pub use merge::{merge_adapter, Merged};

/// The linear layers of one encoder layer, by their path inside it, in checkpoint order.
pub const LAYER_LINEARS: [&str; 6] = [
    "attention.self.query",
    "attention.self.key",
    "attention.self.value",
    "attention.output.dense",
    "intermediate.dense",
    "output.dense",
];

/// What a LoRA adapter updates and how much.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraSpec {
    /// Rank `r` of every update.
    pub rank: usize,
    /// `lora_alpha`.
    pub alpha: f64,
    /// rsLoRA scaling (`alpha / √r`) instead of `alpha / r`.
    pub rslora: bool,
    /// PEFT `target_modules`: a linear layer is updated when its module name equals one of them
    /// or ends with `.` and one of them (`query`, `dense`, `attention.output.dense`, …).
    pub targets: Vec<String>,
    /// The LayerNorms train too (stored in the adapter as whole tensors).
    pub layer_norms: bool,
}

impl LoraSpec {
    /// `all-linear`: every linear layer of the encoder (PEFT's expansion, the head excluded).
    pub fn all_linear() -> Vec<String> {
        ["query", "key", "value", "dense"]
            .map(String::from)
            .to_vec()
    }

    /// The factor of the update: `alpha / r`, or `alpha / √r` with rsLoRA.
    pub fn scale(&self) -> f64 {
        let r = self.rank as f64;
        if self.rslora {
            self.alpha / r.sqrt()
        } else {
            self.alpha / r
        }
    }

    /// Whether the linear layer named `module` (a full module name, such as
    /// `bert.encoder.layer.0.attention.self.query`) is a target, as PEFT matches them.
    pub fn targets(&self, module: &str) -> bool {
        self.targets
            .iter()
            .any(|t| module == t || module.ends_with(&format!(".{t}")))
    }

    /// How `other` differs from this spec (the first difference, by setting name), if it does;
    /// targets compare as sets.
    pub fn difference(&self, other: &LoraSpec) -> Option<String> {
        let sorted = |t: &[String]| {
            let mut t = t.to_vec();
            t.sort();
            t.dedup();
            t
        };
        let pairs = [
            ("lora_rank", self.rank.to_string(), other.rank.to_string()),
            (
                "lora_alpha",
                self.alpha.to_string(),
                other.alpha.to_string(),
            ),
            (
                "lora_rslora",
                self.rslora.to_string(),
                other.rslora.to_string(),
            ),
            (
                "lora_targets",
                sorted(&self.targets).join(","),
                sorted(&other.targets).join(","),
            ),
            (
                "lora_layer_norms",
                self.layer_norms.to_string(),
                other.layer_norms.to_string(),
            ),
        ];
        pairs
            .into_iter()
            .find(|(_, a, b)| a != b)
            .map(|(key, a, b)| format!("{key} {a} (not {b})"))
    }

    /// This spec with `target` as its only target.
    pub(crate) fn single(&self, target: &str) -> LoraSpec {
        LoraSpec {
            targets: vec![target.to_string()],
            ..self.clone()
        }
    }

    /// A rank of 0, no target, or a target that names none of the encoder's linear layers is an
    /// error naming it.
    pub fn validate(&self) -> Result<()> {
        if self.rank == 0 {
            return Err(ReaderError::BadInput("LoRA rank must be at least 1".into()));
        }
        if !(self.alpha.is_finite() && self.alpha > 0.0) {
            return Err(ReaderError::BadInput(format!(
                "lora_alpha must be a positive number, not {}",
                self.alpha
            )));
        }
        if self.targets.is_empty() {
            return Err(ReaderError::BadInput("no LoRA target module given".into()));
        }
        for t in &self.targets {
            if !names_a_linear(t) {
                return Err(ReaderError::BadInput(format!(
                    "LoRA target {t:?} names no linear layer of the encoder (they are {})",
                    LAYER_LINEARS.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// Whether the PEFT target `t` can name a linear layer of an encoder layer: a suffix of
/// `{prefix}encoder.layer.{i}.{linear}` on a `.` boundary (`query`, `dense`,
/// `attention.output.dense`, `layer.3.attention.self.query`, `bert.encoder.layer.0.output.dense`).
fn names_a_linear(t: &str) -> bool {
    let parts: Vec<&str> = t.split('.').collect();
    LAYER_LINEARS.iter().any(|linear| {
        let tail: Vec<&str> = linear.split('.').collect();
        // The target's last parts are the linear's last parts …
        let n = parts.len().min(tail.len());
        if parts[parts.len() - n..] != tail[tail.len() - n..] {
            return false;
        }
        if parts.len() <= tail.len() {
            return true;
        }
        // … and what comes before is `[prefix.]encoder.layer.N` or a suffix of it.
        let head = &parts[..parts.len() - tail.len()];
        let full: Vec<&str> = match head.first() {
            Some(&("bert" | "roberta")) => head[1..].to_vec(),
            _ => head.to_vec(),
        };
        match full.as_slice() {
            [index] => index.parse::<usize>().is_ok(),
            ["layer", index] | ["encoder", "layer", index] => index.parse::<usize>().is_ok(),
            _ => false,
        }
    })
}

/// A linear layer of the encoder, with its LoRA update when it has one.
#[derive(Module, Debug)]
pub struct Projection<B: Backend> {
    /// The base layer (frozen while an adapter trains).
    pub(crate) linear: Linear<B>,
    /// The update, until it is merged.
    pub(crate) lora: Option<LoraPair<B>>,
    /// The weights prepared for a reduced-precision product ([`Projection::with_precision`]),
    /// used by inference instead of `linear` when present.
    #[module(skip)]
    pub(crate) packed: Option<PackedLinear>,
}

/// The two factors of one update: `ΔW = scale · B·A` (PyTorch layout `[out, in]`).
#[derive(Module, Debug)]
pub struct LoraPair<B: Backend> {
    /// `A`, burn layout `[in, r]` (PEFT's `lora_A.weight` is `[r, in]`).
    pub(crate) a: Param<Tensor<B, 2>>,
    /// `B`, burn layout `[r, out]` (PEFT's `lora_B.weight` is `[out, r]`).
    pub(crate) b: Param<Tensor<B, 2>>,
    /// `alpha / r` (or `alpha / √r`).
    #[module(skip)]
    pub(crate) scale: f64,
}

impl<B: Backend> LoraPair<B> {
    /// The rank.
    pub fn rank(&self) -> usize {
        self.b.dims()[0]
    }

    /// A pair of zeros of rank `r` for `d_in → d_out` (a skeleton to load into).
    pub(crate) fn zeros(
        d_in: usize,
        d_out: usize,
        r: usize,
        scale: f64,
        device: &B::Device,
    ) -> Self {
        LoraPair {
            a: Param::from_tensor(Tensor::zeros([d_in, r], device)),
            b: Param::from_tensor(Tensor::zeros([r, d_out], device)),
            scale,
        }
    }

    /// A fresh pair as PEFT initialises one: `A` from U(±1/√d_in) (Kaiming-uniform with
    /// `a = √5`), `B` zero, so the update starts at 0. `A` is drawn from `rng`.
    pub(crate) fn init(
        d_in: usize,
        d_out: usize,
        r: usize,
        scale: f64,
        rng: &mut impl FnMut() -> f64,
        device: &B::Device,
    ) -> Self {
        let bound = 1.0 / (d_in as f64).sqrt();
        // Drawn in PEFT's layout `[r, in]`, stored transposed.
        let drawn: Vec<f32> = (0..r * d_in)
            .map(|_| ((rng() * 2.0 - 1.0) * bound) as f32)
            .collect();
        let a = Tensor::<B, 2>::from_data(TensorData::new(drawn, [r, d_in]), device).transpose();
        LoraPair {
            a: Param::from_tensor(a),
            b: Param::from_tensor(Tensor::zeros([r, d_out], device)),
            scale,
        }
    }

    /// The pair with both factors trainable.
    pub(crate) fn trainable(self) -> Self {
        LoraPair {
            a: self.a.set_require_grad(true),
            b: self.b.set_require_grad(true),
            scale: self.scale,
        }
    }

    /// `scale · A·B`, burn layout `[in, out]`: the update of the weight.
    pub fn delta(&self) -> Tensor<B, 2> {
        self.a.val().matmul(self.b.val()).mul_scalar(self.scale)
    }
}

impl<B: Backend> Projection<B> {
    /// A projection `d_in → d_out` with lazy parameters and no update.
    pub(crate) fn skeleton(d_in: usize, d_out: usize, device: &B::Device) -> Self {
        Projection {
            linear: LinearConfig::new(d_in, d_out).init(device),
            lora: None,
            packed: None,
        }
    }

    /// `x · W + b`, plus `scale · x·A·B` when an update is attached.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2>
    where
        B: ReaderBackend,
    {
        if let Some(packed) = &self.packed {
            return crate::fused::packed_linear(x, packed, &self.linear);
        }
        match &self.lora {
            None => self.linear.forward(x),
            Some(pair) => {
                let update = x
                    .clone()
                    .matmul(pair.a.val())
                    .matmul(pair.b.val())
                    .mul_scalar(pair.scale);
                self.linear.forward(x) + update
            }
        }
    }

    /// Folds the update into the weight (`W + scale·A·B`) and drops it; nothing happens when
    /// there is none.
    pub fn merge(&mut self) {
        let Some(pair) = self.lora.take() else {
            return;
        };
        let weight = &mut self.linear.weight;
        // A new leaf (on an autodiff backend the sum is a tracked node, which cannot become a
        // parameter), trainable when the base weight was.
        let trainable = weight.is_require_grad();
        let merged = (weight.val() + pair.delta()).detach();
        *weight = Param::from_tensor(merged).set_require_grad(trainable);
        self.packed = None;
    }

    /// The projection prepared for `precision` (resolved: `auto` per CPU): its weights packed
    /// once for the reduced-precision product, or left to burn's f32 product. An attached update
    /// is merged first; the packed copy is dropped by anything that changes the weights.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.merge();
        self.packed = match precision.resolve() {
            Precision::Bf16 => {
                let (weight, bias, [k, n]) = self.values();
                Some(PackedLinear::Bf16(Arc::new(Bf16Weights::new(
                    &weight, bias, k, n,
                ))))
            }
            Precision::Int8 => {
                let (weight, bias, [k, n]) = self.values();
                Some(PackedLinear::Int8(Arc::new(Int8Weights::new(
                    &weight, bias, k, n,
                ))))
            }
            _ => None,
        };
        self
    }

    /// The weight (`[k, n]` row-major) and bias values, and `[k, n]`.
    fn values(&self) -> (Vec<f32>, Vec<f32>, [usize; 2]) {
        let [k, n] = self.linear.weight.dims();
        let values = |data: TensorData| {
            data.convert::<f32>()
                .to_vec::<f32>()
                .expect("f32 values of an f32 tensor")
        };
        let weight = values(self.linear.weight.val().into_data());
        let bias = match &self.linear.bias {
            Some(b) => values(b.val().into_data()),
            None => vec![0.0; n],
        };
        (weight, bias, [k, n])
    }

    /// Whether an update is attached.
    pub fn has_lora(&self) -> bool {
        self.lora.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(targets: &[&str]) -> LoraSpec {
        LoraSpec {
            rank: 4,
            alpha: 8.0,
            rslora: false,
            targets: targets.iter().map(|t| t.to_string()).collect(),
            layer_norms: false,
        }
    }

    #[test]
    fn targets_name_linear_layers_as_peft_matches_them() {
        for ok in [
            "query",
            "dense",
            "output.dense",
            "attention.output.dense",
            "layer.3.attention.self.query",
            "encoder.layer.0.intermediate.dense",
            "bert.encoder.layer.11.output.dense",
            "roberta.encoder.layer.0.attention.self.value",
        ] {
            assert!(spec(&[ok]).validate().is_ok(), "{ok}");
        }
        for bad in [
            "word_embeddings",
            "qa_outputs",
            "self",
            "bert.pooler.dense",
            "layer.x.query",
        ] {
            assert!(spec(&[bad]).validate().is_err(), "{bad}");
        }
        // `output.dense` is a suffix of both dense layers named so, as in PEFT.
        let s = spec(&["output.dense"]);
        assert!(s.targets("bert.encoder.layer.0.attention.output.dense"));
        assert!(s.targets("bert.encoder.layer.0.output.dense"));
        assert!(!s.targets("bert.encoder.layer.0.intermediate.dense"));
    }

    #[test]
    fn differences_are_named_by_setting() {
        let a = spec(&["query", "value"]);
        assert_eq!(a.difference(&spec(&["value", "query"])), None);
        let b = LoraSpec {
            rank: 8,
            ..a.clone()
        };
        assert_eq!(a.difference(&b).as_deref(), Some("lora_rank 4 (not 8)"));
        let c = spec(&["query"]);
        assert_eq!(
            a.difference(&c).as_deref(),
            Some("lora_targets query,value (not query)")
        );
    }
}
