//! The one description of a module's parameters by checkpoint name ([`ParamVisitor`]), with the
//! renames between Hugging Face's layout and burn's (the table in [`super`]).

use burn::module::Param;
use burn::nn::conv::Conv1d;
use burn::nn::{Embedding, LayerNorm, Linear};
use burn::prelude::*;

use crate::error::Result;
use crate::lora::LoraPair;

/// What is done with each parameter of a module, given its checkpoint name and its shape as
/// stored (PyTorch layout). Modules describe their parameters through the provided methods, which
/// hold the checkpoint's names and layouts; a visitor implements the two tensor methods.
pub trait ParamVisitor<B: Backend> {
    /// A tensor stored as burn holds it, `shape` in both.
    fn tensor<const D: usize>(
        &mut self,
        name: &str,
        param: &mut Param<Tensor<B, D>>,
        shape: [usize; D],
    ) -> Result<()>;

    /// A Linear weight stored `[out, in]` (PyTorch, `stored`) that burn holds `[in, out]`.
    fn transposed(
        &mut self,
        name: &str,
        param: &mut Param<Tensor<B, 2>>,
        stored: [usize; 2],
    ) -> Result<()>;

    /// A Linear `d_in → d_out`: `{path}.weight` `[d_out, d_in]` (transposed), `{path}.bias`.
    fn linear(
        &mut self,
        path: &str,
        linear: &mut Linear<B>,
        d_in: usize,
        d_out: usize,
    ) -> Result<()> {
        self.transposed(&format!("{path}.weight"), &mut linear.weight, [d_out, d_in])?;
        match &mut linear.bias {
            Some(bias) => self.tensor(&format!("{path}.bias"), bias, [d_out]),
            None => Ok(()),
        }
    }

    /// A LoRA update of the Linear `{path}` (`d_in → d_out`): PEFT's `{path}.lora_A.weight`
    /// `[r, d_in]` and `{path}.lora_B.weight` `[d_out, r]`, both transposed as Linear weights.
    fn lora(
        &mut self,
        path: &str,
        pair: &mut LoraPair<B>,
        d_in: usize,
        d_out: usize,
    ) -> Result<()> {
        let r = pair.rank();
        self.transposed(&format!("{path}.lora_A.weight"), &mut pair.a, [r, d_in])?;
        self.transposed(&format!("{path}.lora_B.weight"), &mut pair.b, [d_out, r])
    }

    /// A LayerNorm over `d`: `{path}.weight` is burn's `gamma`, `{path}.bias` its `beta`.
    fn layer_norm(&mut self, path: &str, norm: &mut LayerNorm<B>, d: usize) -> Result<()> {
        self.tensor(&format!("{path}.weight"), &mut norm.gamma, [d])?;
        match &mut norm.beta {
            Some(beta) => self.tensor(&format!("{path}.bias"), beta, [d]),
            None => Ok(()),
        }
    }

    /// A Conv1d whose weight is `[c_out, c_in, k]` (both layouts): `{path}.weight`, `{path}.bias`.
    fn conv1d(&mut self, path: &str, conv: &mut Conv1d<B>, weight: [usize; 3]) -> Result<()> {
        self.tensor(&format!("{path}.weight"), &mut conv.weight, weight)?;
        match &mut conv.bias {
            Some(bias) => self.tensor(&format!("{path}.bias"), bias, [weight[0]]),
            None => Ok(()),
        }
    }

    /// An Embedding of `n` rows of `d`: `{path}.weight` `[n, d]`.
    fn embedding(
        &mut self,
        path: &str,
        table: &mut Embedding<B>,
        n: usize,
        d: usize,
    ) -> Result<()> {
        self.tensor(&format!("{path}.weight"), &mut table.weight, [n, d])
    }
}
