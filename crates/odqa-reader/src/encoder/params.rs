//! The one description of the encoder's parameters (checkpoint names and shapes, visited by
//! [`ParamVisitor`]s), the lazy skeletons it is visited on, and loading and saving through it.

use burn::nn::{DropoutConfig, EmbeddingConfig, LayerNorm, LayerNormConfig};
use burn::prelude::*;

use super::{Activation, Embeddings, Encoder, Layer};
use crate::config::ReaderConfig;
use crate::error::Result;
use crate::lora::Projection;
use crate::params::{Loader, Saver};
use crate::weights::{Checkpoint, CheckpointWriter, ParamVisitor};

/// The checkpoint path of encoder layer `i` under `prefix` (`{prefix}encoder.layer.{i}.`).
pub(crate) fn layer_path(prefix: &str, i: usize) -> String {
    format!("{prefix}encoder.layer.{i}.")
}

/// A LayerNorm over `d` with epsilon `eps`, its parameters lazy (nothing allocated).
pub(crate) fn layer_norm_skeleton<B: Backend>(
    d: usize,
    eps: f64,
    device: &B::Device,
) -> LayerNorm<B> {
    LayerNormConfig::new(d).with_epsilon(eps).init(device)
}

impl<B: Backend> Embeddings<B> {
    /// The embeddings of `config`, parameters lazy.
    fn skeleton(config: &ReaderConfig, device: &B::Device) -> Self {
        let e = config.embedding_dim();
        let table = |n: usize| EmbeddingConfig::new(n, e).init(device);
        Embeddings {
            word_embeddings: table(config.vocab_size),
            position_embeddings: table(config.max_position_embeddings),
            token_type_embeddings: table(config.type_vocab_size),
            layer_norm: layer_norm_skeleton(e, config.layer_norm_eps, device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            projection: config
                .projects_embeddings()
                .then(|| Projection::skeleton(e, config.hidden_size, device)),
            norm_eps: config.layer_norm_eps,
        }
    }

    /// The embeddings' parameters, under `{prefix}embeddings.`, and ELECTRA's projection,
    /// `{prefix}embeddings_project` (beside them, as transformers names it).
    fn visit_params(
        &mut self,
        c: &ReaderConfig,
        v: &mut impl ParamVisitor<B>,
        prefix: &str,
    ) -> Result<()> {
        let h = c.embedding_dim();
        let p = |s: &str| format!("{prefix}embeddings.{s}");
        let tables = [
            ("word_embeddings", &mut self.word_embeddings, c.vocab_size),
            (
                "position_embeddings",
                &mut self.position_embeddings,
                c.max_position_embeddings,
            ),
            (
                "token_type_embeddings",
                &mut self.token_type_embeddings,
                c.type_vocab_size,
            ),
        ];
        for (name, table, n) in tables {
            v.embedding(&p(name), table, n, h)?;
        }
        v.layer_norm(&p("LayerNorm"), &mut self.layer_norm, h)?;
        match &mut self.projection {
            Some(projection) => v.linear(
                &format!("{prefix}embeddings_project"),
                &mut projection.linear,
                h,
                c.hidden_size,
            ),
            None => Ok(()),
        }
    }
}

impl<B: Backend> Layer<B> {
    /// One layer of `config`, parameters lazy.
    fn skeleton(config: &ReaderConfig, device: &B::Device) -> Self {
        let (h, f, eps) = (
            config.hidden_size,
            config.intermediate_size,
            config.layer_norm_eps,
        );
        let linear = |d_in: usize, d_out: usize| Projection::skeleton(d_in, d_out, device);
        Layer {
            query: linear(h, h),
            key: linear(h, h),
            value: linear(h, h),
            attention_output: linear(h, h),
            attention_norm: layer_norm_skeleton(h, eps, device),
            intermediate: linear(h, f),
            output: linear(f, h),
            output_norm: layer_norm_skeleton(h, eps, device),
            dropout: DropoutConfig::new(config.hidden_dropout_prob).init(),
            attention_dropout: DropoutConfig::new(config.attention_probs_dropout_prob).init(),
            heads: config.num_attention_heads,
            activation: match config.hidden_act.as_str() {
                "gelu_new" | "gelu_pytorch_tanh" => Activation::GeluTanh,
                "relu" => Activation::Relu,
                _ => Activation::Gelu,
            },
            bf16_attention: false,
            norm_eps: eps,
        }
    }

    /// The layer's parameters, under `path` (see [`layer_path`]).
    fn visit_params(
        &mut self,
        c: &ReaderConfig,
        v: &mut impl ParamVisitor<B>,
        path: &str,
    ) -> Result<()> {
        let (h, f) = (c.hidden_size, c.intermediate_size);
        let l = |s: &str| format!("{path}{s}");
        v.linear(&l("attention.self.query"), &mut self.query.linear, h, h)?;
        v.linear(&l("attention.self.key"), &mut self.key.linear, h, h)?;
        v.linear(&l("attention.self.value"), &mut self.value.linear, h, h)?;
        v.linear(
            &l("attention.output.dense"),
            &mut self.attention_output.linear,
            h,
            h,
        )?;
        v.layer_norm(
            &l("attention.output.LayerNorm"),
            &mut self.attention_norm,
            h,
        )?;
        v.linear(
            &l("intermediate.dense"),
            &mut self.intermediate.linear,
            h,
            f,
        )?;
        v.linear(&l("output.dense"), &mut self.output.linear, f, h)?;
        v.layer_norm(&l("output.LayerNorm"), &mut self.output_norm, h)
    }
}

impl<B: Backend> Encoder<B> {
    /// The encoder of `config` with lazy parameters: nothing is allocated until a parameter is
    /// read, so it can be described ([`Expect`](crate::params::Expect)) or loaded into whatever
    /// sizes the config asks for.
    pub fn skeleton(config: &ReaderConfig, device: &B::Device) -> Self {
        Encoder {
            embeddings: Embeddings::skeleton(config, device),
            layers: (0..config.num_hidden_layers)
                .map(|_| Layer::skeleton(config, device))
                .collect(),
            pad_token_id: config.pad_token_id,
            roberta_positions: config.roberta_positions(),
        }
    }

    /// The one description of the encoder's parameters: checkpoint names under `prefix`
    /// (`bert.`, `roberta.`, `electra.` or empty) and shapes from `config`, in checkpoint order.
    pub fn visit_params(
        &mut self,
        config: &ReaderConfig,
        v: &mut impl ParamVisitor<B>,
        prefix: &str,
    ) -> Result<()> {
        self.embeddings.visit_params(config, v, prefix)?;
        for (i, layer) in self.layers.iter_mut().enumerate() {
            layer.visit_params(config, v, &layer_path(prefix, i))?;
        }
        Ok(())
    }

    /// Loads the encoder from `ckpt`, tensor names under `prefix` (`bert.`, `roberta.` or empty).
    pub fn load(
        config: &ReaderConfig,
        ckpt: &mut Checkpoint,
        prefix: &str,
        device: &B::Device,
    ) -> Result<Self> {
        let mut encoder = Self::skeleton(config, device);
        encoder.visit_params(config, &mut Loader::new(ckpt, device), prefix)?;
        Ok(encoder)
    }

    /// Writes the encoder's tensors under `prefix`, with the checkpoint's names.
    pub fn save(
        &self,
        config: &ReaderConfig,
        w: &mut CheckpointWriter,
        prefix: &str,
    ) -> Result<()> {
        // The visit takes the parameters mutably; a clone shares their tensors.
        self.clone()
            .visit_params(config, &mut Saver::new(w), prefix)
    }
}
