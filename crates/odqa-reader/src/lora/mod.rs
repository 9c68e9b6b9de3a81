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

use crate::error::{ReaderError, Result};

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
            let probe = Self {
                targets: vec![t.clone()],
                ..self.clone()
            };
            if !LAYER_LINEARS
                .iter()
                .any(|l| probe.targets(&format!("encoder.layer.0.{l}")))
            {
                return Err(ReaderError::BadInput(format!(
                    "LoRA target {t:?} names no linear layer of the encoder (they are {})",
                    LAYER_LINEARS.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// A linear layer of the encoder, with its LoRA update when it has one.
#[derive(Module, Debug)]
pub struct Projection<B: Backend> {
    /// The base layer (frozen while an adapter trains).
    pub(crate) linear: Linear<B>,
    /// The update, until it is merged.
    pub(crate) lora: Option<LoraPair<B>>,
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
        }
    }

    /// `x · W + b`, plus `scale · x·A·B` when an update is attached.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
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

    /// The projection with its update folded into the weight (`W + scale·A·B`) and no update
    /// left; unchanged when it has none.
    pub fn merged(self) -> Self {
        let Some(pair) = self.lora else {
            return self;
        };
        let mut linear = self.linear;
        let weight = linear.weight.val() + pair.delta();
        linear.weight = Param::from_tensor(weight);
        Projection { linear, lora: None }
    }

    /// Whether an update is attached.
    pub fn has_lora(&self) -> bool {
        self.lora.is_some()
    }
}
