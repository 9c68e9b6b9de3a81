//! The encoder's LoRA updates: attaching them (fresh, or as skeletons to load an adapter into),
//! merging them into the weights, and the one description of an adapter's encoder tensors.

use burn::module::{Module, Param};
use burn::nn::LayerNorm;
use burn::prelude::*;

use super::{layer_path, Encoder, Layer};
use crate::config::ReaderConfig;
use crate::error::{ReaderError, Result};
use crate::lora::{LoraPair, LoraSpec, Projection, LAYER_LINEARS};
use crate::weights::ParamVisitor;

impl<B: Backend> Layer<B> {
    /// The layer's projections in [`LAYER_LINEARS`] order.
    fn projections(&self) -> [&Projection<B>; 6] {
        [
            &self.query,
            &self.key,
            &self.value,
            &self.attention_output,
            &self.intermediate,
            &self.output,
        ]
    }

    /// The layer's projections in [`LAYER_LINEARS`] order, to change.
    fn projections_mut(&mut self) -> [&mut Projection<B>; 6] {
        [
            &mut self.query,
            &mut self.key,
            &mut self.value,
            &mut self.attention_output,
            &mut self.intermediate,
            &mut self.output,
        ]
    }

    /// The layer's projections in [`LAYER_LINEARS`] order, with their paths inside the layer and
    /// their input and output sizes.
    fn slots(&mut self, c: &ReaderConfig) -> [(&'static str, &mut Projection<B>, usize, usize); 6] {
        let (h, f) = (c.hidden_size, c.intermediate_size);
        let sizes = [(h, h), (h, h), (h, h), (h, h), (h, f), (f, h)];
        let mut i = 0;
        self.projections_mut().map(|p| {
            let (name, (d_in, d_out)) = (LAYER_LINEARS[i], sizes[i]);
            i += 1;
            (name, p, d_in, d_out)
        })
    }
}

/// `norm` with its gain and bias trainable again.
fn trainable<B: Backend>(mut norm: LayerNorm<B>) -> LayerNorm<B> {
    norm.gamma = norm.gamma.set_require_grad(true);
    norm.beta = norm
        .beta
        .map(|b: Param<Tensor<B, 1>>| b.set_require_grad(true));
    norm
}

impl<B: Backend> Encoder<B> {
    /// Gives every linear layer `spec` targets (module names under `prefix`, e.g. `bert.`) the
    /// pair `make(existing, d_in, d_out)` returns, `existing` being the update already there.
    /// Returns the targets that matched no linear layer.
    pub(crate) fn attach_lora(
        &mut self,
        config: &ReaderConfig,
        spec: &LoraSpec,
        prefix: &str,
        mut make: impl FnMut(Option<LoraPair<B>>, usize, usize) -> LoraPair<B>,
    ) -> Vec<String> {
        let mut unmatched = spec.targets.clone();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let path = layer_path(prefix, i);
            for (name, projection, d_in, d_out) in layer.slots(config) {
                let module = format!("{path}{name}");
                if spec.targets(&module) {
                    unmatched.retain(|t| !spec.single(t).targets(&module));
                    projection.lora = Some(make(projection.lora.take(), d_in, d_out));
                }
            }
        }
        unmatched
    }

    /// The encoder prepared to train an adapter: every base parameter frozen (no gradient, no
    /// optimizer state), updates on the targets (the ones already attached, when continuing an
    /// adapter, else fresh ones as PEFT initialises them, `A` drawn from `seed`) trainable, and
    /// the LayerNorms trainable when `spec.layer_norms`. A target that names no linear layer of
    /// this encoder is an error naming it.
    pub fn with_lora(
        self,
        config: &ReaderConfig,
        spec: &LoraSpec,
        prefix: &str,
        seed: u64,
        device: &B::Device,
    ) -> Result<Self> {
        let mut encoder = self.no_grad();
        let mut rng = crate::head::SplitMix64(seed);
        let (r, scale) = (spec.rank, spec.scale());
        let mut draw = move || rng.next_f64();
        let unmatched =
            encoder.attach_lora(
                config,
                spec,
                prefix,
                |existing, d_in, d_out| match existing {
                    Some(pair) => pair.trainable(),
                    None => LoraPair::init(d_in, d_out, r, scale, &mut draw, device),
                },
            );
        if let Some(t) = unmatched.first() {
            return Err(ReaderError::BadInput(format!(
                "LoRA target {t:?} names no linear layer of this {}-layer encoder",
                config.num_hidden_layers
            )));
        }
        if spec.layer_norms {
            encoder.map_layer_norms(trainable);
        }
        Ok(encoder)
    }

    /// Applies `f` to every LayerNorm of the encoder.
    fn map_layer_norms(&mut self, f: impl Fn(LayerNorm<B>) -> LayerNorm<B>) {
        let e = &mut self.embeddings;
        e.layer_norm = f(e.layer_norm.clone());
        for layer in &mut self.layers {
            layer.attention_norm = f(layer.attention_norm.clone());
            layer.output_norm = f(layer.output_norm.clone());
        }
    }

    /// The encoder with every update folded into its weights (nothing left to merge).
    pub fn merged(mut self) -> Self {
        for layer in &mut self.layers {
            for projection in layer.projections_mut() {
                projection.merge();
            }
        }
        self
    }

    /// Whether any linear layer carries an update.
    pub fn has_lora(&self) -> bool {
        self.layers
            .iter()
            .any(|l| l.projections().iter().any(|p| p.has_lora()))
    }

    /// The one description of an adapter's encoder tensors under `prefix`: every update
    /// (`{layer}.{linear}.lora_A.weight`, `….lora_B.weight`), and every LayerNorm when they
    /// train (`layer_norms`).
    pub fn visit_adapter_params(
        &mut self,
        config: &ReaderConfig,
        v: &mut impl ParamVisitor<B>,
        prefix: &str,
        layer_norms: bool,
    ) -> Result<()> {
        let h = config.hidden_size;
        if layer_norms {
            let name = format!("{prefix}embeddings.LayerNorm");
            let width = config.embedding_dim();
            v.layer_norm(&name, &mut self.embeddings.layer_norm, width)?;
        }
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let path = layer_path(prefix, i);
            for (name, projection, d_in, d_out) in layer.slots(config) {
                if let Some(pair) = &mut projection.lora {
                    v.lora(&format!("{path}{name}"), pair, d_in, d_out)?;
                }
            }
            if layer_norms {
                let attention = format!("{path}attention.output.LayerNorm");
                v.layer_norm(&attention, &mut layer.attention_norm, h)?;
                let output = format!("{path}output.LayerNorm");
                v.layer_norm(&output, &mut layer.output_norm, h)?;
            }
        }
        Ok(())
    }
}
