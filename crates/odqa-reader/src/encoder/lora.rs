//! The encoder's LoRA updates: attaching them (fresh, or as skeletons to load an adapter into),
//! merging them into the weights, and the one description of an adapter's encoder tensors.

use burn::module::{Module, Param};
use burn::nn::LayerNorm;
use burn::prelude::*;

use super::{layer_path, Encoder, Layer};
use crate::config::ReaderConfig;
use crate::error::Result;
use crate::lora::{LoraPair, LoraSpec, Projection, LAYER_LINEARS};
use crate::weights::ParamVisitor;

/// A projection's path inside its layer, the projection, and its input and output sizes.
type Slot<'a, B> = (&'static str, &'a mut Projection<B>, usize, usize);

impl<B: Backend> Layer<B> {
    /// The layer's projections in [`LAYER_LINEARS`] order, with their sizes.
    fn projections_mut(&mut self, c: &ReaderConfig) -> [Slot<'_, B>; 6] {
        let (h, f) = (c.hidden_size, c.intermediate_size);
        let [q, k, v, o, i, out] = LAYER_LINEARS;
        [
            (q, &mut self.query, h, h),
            (k, &mut self.key, h, h),
            (v, &mut self.value, h, h),
            (o, &mut self.attention_output, h, h),
            (i, &mut self.intermediate, h, f),
            (out, &mut self.output, f, h),
        ]
    }

    /// The layer with every update merged into its weights.
    fn merged(mut self) -> Self {
        for p in [
            &mut self.query,
            &mut self.key,
            &mut self.value,
            &mut self.attention_output,
            &mut self.intermediate,
            &mut self.output,
        ] {
            let taken = std::mem::replace(
                p,
                Projection {
                    linear: p.linear.clone(),
                    lora: None,
                },
            );
            *p = taken.merged();
        }
        self
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
    pub(crate) fn attach_lora(
        &mut self,
        config: &ReaderConfig,
        spec: &LoraSpec,
        prefix: &str,
        mut make: impl FnMut(Option<LoraPair<B>>, usize, usize) -> LoraPair<B>,
    ) {
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let path = layer_path(prefix, i);
            for (name, projection, d_in, d_out) in layer.projections_mut(config) {
                if spec.targets(&format!("{path}{name}")) {
                    projection.lora = Some(make(projection.lora.take(), d_in, d_out));
                }
            }
        }
    }

    /// The encoder prepared to train an adapter: every base parameter frozen (no gradient, no
    /// optimizer state), updates on the targets (the ones already attached, when continuing an
    /// adapter, else fresh ones as PEFT initialises them, `A` drawn from `seed`) trainable, and
    /// the LayerNorms trainable when `spec.layer_norms`.
    pub fn with_lora(
        self,
        config: &ReaderConfig,
        spec: &LoraSpec,
        prefix: &str,
        seed: u64,
        device: &B::Device,
    ) -> Self {
        let mut encoder = self.no_grad();
        let mut rng = crate::head::SplitMix64(seed);
        let (r, scale) = (spec.rank, spec.scale());
        let mut draw = move || rng.next_f64();
        encoder.attach_lora(
            config,
            spec,
            prefix,
            |existing, d_in, d_out| match existing {
                Some(pair) => pair.trainable(),
                None => LoraPair::init(d_in, d_out, r, scale, &mut draw, device),
            },
        );
        if spec.layer_norms {
            encoder.map_layer_norms(trainable);
        }
        encoder
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
        self.layers = self.layers.into_iter().map(Layer::merged).collect();
        self
    }

    /// Whether any linear layer carries an update.
    pub fn has_lora(&self) -> bool {
        self.layers.iter().any(|l| {
            [
                &l.query,
                &l.key,
                &l.value,
                &l.attention_output,
                &l.intermediate,
                &l.output,
            ]
            .iter()
            .any(|p| p.has_lora())
        })
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
            v.layer_norm(&name, &mut self.embeddings.layer_norm, h)?;
        }
        for (i, layer) in self.layers.iter_mut().enumerate() {
            let path = layer_path(prefix, i);
            for (name, projection, d_in, d_out) in layer.projections_mut(config) {
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
