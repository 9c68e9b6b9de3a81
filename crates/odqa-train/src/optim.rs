//! AdamW with transformers' parameter groups, global-norm gradient clipping, and the learning-rate
//! schedules.
//!
//! burn's own AdamW applies one weight decay to every parameter and clips each gradient on its own;
//! transformers (and PyTorch's `clip_grad_norm_`) exempt biases and LayerNorm parameters from decay
//! and clip by the norm of all gradients together. Here: decay on every parameter of rank ≥ 2
//! (matrices, embeddings, convolution kernels), none on rank-1 parameters (in these models exactly
//! the biases and LayerNorm gains/shifts), and one global norm. The update is PyTorch's
//! `torch.optim.AdamW`: decoupled decay `p -= lr·wd·p`, bias-corrected moments.
//!
//! Moments are kept per parameter in the module's visiting order, which is fixed by the model
//! structure, so they can be saved and restored into a model loaded afresh.

use std::path::Path;
use std::sync::Arc;

use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
pub use odqa_reader::encoder::param_tensor_count;
use odqa_reader::weights::{Checkpoint, CheckpointWriter, StoredType};

use crate::error::{Result, TrainError};
use crate::settings::{Schedule, TrainSettings};

/// AdamW hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWSettings {
    /// β1.
    pub beta1: f64,
    /// β2.
    pub beta2: f64,
    /// ε.
    pub epsilon: f64,
    /// Decoupled weight decay for rank ≥ 2 parameters.
    pub weight_decay: f64,
}

impl From<&TrainSettings> for AdamWSettings {
    fn from(s: &TrainSettings) -> Self {
        AdamWSettings {
            beta1: s.adam_beta1,
            beta2: s.adam_beta2,
            epsilon: s.adam_epsilon,
            weight_decay: s.weight_decay,
        }
    }
}

/// Learning rates of one update: parameters from index `head_start` on (in visiting order: the
/// head's, after the encoder's) use `head`, the others `base` times their entry of `base_scales`.
#[derive(Debug, Clone, PartialEq)]
pub struct LearningRates {
    /// Rate of the encoder's parameters.
    pub base: f64,
    /// Rate of the head's parameters.
    pub head: f64,
    /// Index of the first head parameter.
    pub head_start: usize,
    /// Factor of `base` for each encoder parameter by visiting index (layer-wise decay,
    /// [`layer_scales`]); empty, or shorter than the encoder's parameters, means 1 for the rest.
    pub base_scales: Arc<[f64]>,
}

impl LearningRates {
    /// One rate for every parameter.
    pub fn uniform(lr: f64) -> Self {
        LearningRates {
            base: lr,
            head: lr,
            head_start: usize::MAX,
            base_scales: Arc::from([]),
        }
    }

    /// The rate of the parameter at visiting index `index`.
    fn of(&self, index: usize) -> f64 {
        if index >= self.head_start {
            return self.head;
        }
        self.base * self.base_scales.get(index).copied().unwrap_or(1.0)
    }
}

/// Layer-wise learning-rate decay (as ELECTRA's `layer_lr_decay`, except that the top layer trains
/// at the full rate where ELECTRA gives it `decay²`): the factor of the encoder's rate
/// for each parameter of the given depths ([`odqa_reader::encoder::Encoder::parameter_depths`]: 0
/// the embeddings, `i + 1` layer `i`) is `decay^(top − depth)`, `top` the deepest: the top layer
/// trains at the full rate, each layer below at `decay` times the one above, the embeddings at
/// `decay^top`. `decay` 1 gives every parameter the full rate (an empty list).
pub fn layer_scales(depths: &[usize], decay: f64) -> Arc<[f64]> {
    if decay == 1.0 {
        return Arc::from([]);
    }
    let layers = depths.iter().copied().max().unwrap_or(0);
    depths
        .iter()
        .map(|&d| decay.powi(layers.saturating_sub(d) as i32))
        .collect()
}

/// First and second moments of one parameter, flattened.
type Moments<B> = (Tensor<B, 1>, Tensor<B, 1>);

/// AdamW state over the parameters of a model on backend `B` (the inner, non-autodiff backend).
pub struct AdamW<B: Backend> {
    settings: AdamWSettings,
    moments: Vec<Option<Moments<B>>>,
    /// Updates applied so far (for the bias correction).
    pub updates: u64,
}

impl<B: Backend> AdamW<B> {
    /// A fresh optimizer.
    pub fn new(settings: AdamWSettings) -> Self {
        AdamW {
            settings,
            moments: Vec::new(),
            updates: 0,
        }
    }

    /// Applies one update to `module` with `grads` (already averaged over the accumulated
    /// micro-batches), clipping their global norm to `max_grad_norm` (0 = no clipping) first.
    /// Returns the updated module and the global gradient norm before clipping.
    pub fn step<AB, M>(
        &mut self,
        module: M,
        mut grads: GradientsParams,
        lr: LearningRates,
        max_grad_norm: f64,
    ) -> (M, f64)
    where
        AB: AutodiffBackend<InnerBackend = B>,
        M: Module<AB>,
    {
        let norm = global_grad_norm::<AB, M>(&module, &grads);
        let scale = if max_grad_norm > 0.0 && norm > max_grad_norm {
            max_grad_norm / (norm + 1e-6)
        } else {
            1.0
        };
        self.updates += 1;
        let t = self.updates as i32;
        let mut mapper = UpdateMapper::<AB> {
            settings: self.settings,
            moments: &mut self.moments,
            grads: &mut grads,
            rates: lr,
            scale,
            bias1: 1.0 - self.settings.beta1.powi(t),
            bias2: 1.0 - self.settings.beta2.powi(t),
            index: 0,
        };
        (module.map(&mut mapper), norm)
    }

    /// Writes the moments (`m.{i}`, `v.{i}`, f32) to a safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut w = CheckpointWriter::default();
        for (i, moments) in self.moments.iter().enumerate() {
            if let Some((m, v)) = moments {
                w.add(format!("m.{i}"), m.clone());
                w.add(format!("v.{i}"), v.clone());
            }
        }
        w.write(path, StoredType::F32)?;
        Ok(())
    }

    /// Restores moments saved by [`AdamW::save`] for `module`, checking each against the size of
    /// the parameter it belongs to.
    pub fn load<AB, M>(&mut self, path: &Path, module: &M, updates: u64) -> Result<()>
    where
        AB: AutodiffBackend<InnerBackend = B>,
        M: Module<AB>,
    {
        let mut ckpt = Checkpoint::open(path)?;
        let mut sizes = ParamSizes::<B> {
            sizes: Vec::new(),
            device: None,
        };
        module.visit(&mut sizes);
        let Some(device) = sizes.device.clone() else {
            return Ok(());
        };
        let mut moments = Vec::with_capacity(sizes.sizes.len());
        for (i, n) in sizes.sizes.iter().enumerate() {
            let name = format!("m.{i}");
            if ckpt.shape_of(&name).is_none() {
                moments.push(None);
                continue;
            }
            let m = ckpt.tensor::<B, 1>(&name, [*n], &device)?;
            let v = ckpt.tensor::<B, 1>(&format!("v.{i}"), [*n], &device)?;
            moments.push(Some((m, v)));
        }
        if let Some(extra) = ckpt.unused().first() {
            return Err(TrainError::BadResume {
                path: path.to_path_buf(),
                message: format!("optimizer state {extra} has no parameter in this model"),
            });
        }
        self.moments = moments;
        self.updates = updates;
        Ok(())
    }
}

/// Learning rate of update `step` (0-based) out of `total`, as transformers' schedulers (the
/// first update of a warm-up runs at 0, as `get_linear_schedule_with_warmup`).
pub fn learning_rate(
    peak: f64,
    schedule: Schedule,
    step: usize,
    total: usize,
    warmup: usize,
) -> f64 {
    let (step, total, warmup) = (step as f64, total as f64, warmup as f64);
    if step < warmup {
        return peak * step / warmup.max(1.0);
    }
    let progress = (step - warmup) / (total - warmup).max(1.0);
    let factor = match schedule {
        Schedule::Linear => ((total - step) / (total - warmup).max(1.0)).max(0.0),
        Schedule::Cosine => (0.5 * (1.0 + (std::f64::consts::PI * progress).cos())).max(0.0),
        Schedule::Constant => 1.0,
    };
    peak * factor
}

/// √(Σ‖g‖²) over every parameter that has a gradient.
fn global_grad_norm<AB: AutodiffBackend, M: Module<AB>>(
    module: &M,
    grads: &GradientsParams,
) -> f64 {
    struct SquaredNorm<'a, B: Backend> {
        grads: &'a GradientsParams,
        sum: Option<Tensor<B, 1>>,
    }
    impl<AB: AutodiffBackend> ModuleVisitor<AB> for SquaredNorm<'_, AB::InnerBackend> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AB, D>>) {
            if let Some(g) = self.grads.get::<AB::InnerBackend, D>(param.id) {
                let s = g.powi_scalar(2).sum();
                self.sum = Some(match self.sum.take() {
                    Some(acc) => acc + s,
                    None => s,
                });
            }
        }
    }
    let mut visitor = SquaredNorm::<AB::InnerBackend> { grads, sum: None };
    module.visit(&mut visitor);
    visitor
        .sum
        .map_or(0.0, |s| s.into_scalar().elem::<f64>().sqrt())
}

/// Number of elements of each float parameter, in visiting order, and their device.
struct ParamSizes<B: Backend> {
    sizes: Vec<usize>,
    device: Option<B::Device>,
}

impl<AB: AutodiffBackend> ModuleVisitor<AB> for ParamSizes<AB::InnerBackend> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<AB, D>>) {
        let value = param.val().inner();
        self.sizes.push(value.shape().num_elements());
        self.device.get_or_insert_with(|| value.device());
    }
}

struct UpdateMapper<'a, AB: AutodiffBackend> {
    settings: AdamWSettings,
    moments: &'a mut Vec<Option<Moments<AB::InnerBackend>>>,
    grads: &'a mut GradientsParams,
    rates: LearningRates,
    scale: f64,
    bias1: f64,
    bias2: f64,
    index: usize,
}

impl<AB: AutodiffBackend> ModuleMapper<AB> for UpdateMapper<'_, AB> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<AB, D>>) -> Param<Tensor<AB, D>> {
        let index = self.index;
        self.index += 1;
        if self.moments.len() <= index {
            self.moments.resize_with(index + 1, || None);
        }
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<AB::InnerBackend, D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let s = self.settings;
        let lr = self.rates.of(index);
        let require_grad = tensor.is_require_grad();
        let dims = tensor.dims();
        let n: usize = dims.iter().product();
        let p = tensor.inner();
        let g = grad.reshape([n]).mul_scalar(self.scale);
        let (m, v) = self.moments[index].take().unwrap_or_else(|| {
            let device = p.device();
            (Tensor::zeros([n], &device), Tensor::zeros([n], &device))
        });
        let m = m.mul_scalar(s.beta1) + g.clone().mul_scalar(1.0 - s.beta1);
        let v = v.mul_scalar(s.beta2) + g.powi_scalar(2).mul_scalar(1.0 - s.beta2);
        let denom = v
            .clone()
            .div_scalar(self.bias2)
            .sqrt()
            .add_scalar(s.epsilon);
        let update = m.clone().div_scalar(self.bias1).div(denom).reshape(dims);
        let p = if D >= 2 && s.weight_decay > 0.0 {
            p.mul_scalar(1.0 - lr * s.weight_decay)
        } else {
            p
        };
        let p = p - update.mul_scalar(lr);
        self.moments[index] = Some((m, v));
        let mut tensor = Tensor::from_inner(p);
        if require_grad {
            tensor = tensor.require_grad();
        }
        Param::from_mapped_value(id, tensor, mapper)
    }
}

#[cfg(test)]
#[path = "optim_tests.rs"]
mod tests;
