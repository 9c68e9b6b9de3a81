//! Fused kernels as a burn backend extension.
//!
//! [`ReaderBackend`] adds the reader's fused inference operations to a burn [`Backend`]. Every
//! method has a default implementation made of burn's own (composite) operations, so any backend
//! works: the CUDA backend and `Autodiff<…>` (training) use these defaults. The CPU backend
//! ([`burn::backend::Flex`]) overrides them with the kernels of [`kernels`]: attention with the key
//! mask inside (parallel over batch rows, query rows and heads, vectorised softmax, written straight
//! into `[batch, seq, hidden]`), and exact GELU with a vectorised erf; for a dtype other than f32
//! it falls back to the composite operations.
//!
//! Under `Autodiff<B>` GELU is a tracked operation whose forward and backward are `B`'s fused
//! kernels; attention stays composite there (training needs dropout on its probabilities), so the
//! encoder uses the fused attention only when it is not training.

mod autodiff;
mod flex;
pub mod kernels;

use burn::prelude::*;
use burn::tensor::activation::softmax;
use burn::tensor::ops::FloatTensor;
use burn::tensor::TensorPrimitive;

/// A burn backend with the reader's fused operations (see the module documentation).
pub trait ReaderBackend: Backend {
    /// `softmax(QKᵀ/√d + mask)·V` with `q`, `k`, `v` `[batch, seq, hidden]` (head `h` = columns
    /// `h·d..(h+1)·d`), `key_mask` `[batch, seq]` (1 = attend, 0 = padding); returns
    /// `[batch, seq, hidden]`. Masked keys get probability 0 (transformers' additive `f32::MIN`
    /// mask; a row whose keys are all masked attends uniformly to all of them).
    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        key_mask: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        composite_attention::<Self>(q, k, v, key_mask, heads)
    }

    /// Exact (erf) GELU.
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        composite_gelu::<Self>(x)
    }

    /// The gradient through exact GELU at `x`: `grad · (Φ(x) + x·φ(x))`.
    fn fused_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::gelu_backward(x, grad)
    }
}

/// [`ReaderBackend::fused_attention`] with burn's operations: the explicit
/// `softmax(QKᵀ/√d + (1 − mask)·f32::MIN)·V`, as transformers computes it.
pub fn composite_attention<B: Backend>(
    q: FloatTensor<B>,
    k: FloatTensor<B>,
    v: FloatTensor<B>,
    key_mask: FloatTensor<B>,
    heads: usize,
) -> FloatTensor<B> {
    let float = |t| Tensor::<B, 3>::from_primitive(TensorPrimitive::Float(t));
    let (q, k, v) = (float(q), float(k), float(v));
    let key_mask = Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(key_mask));
    let [b, l, hidden] = q.dims();
    let d = hidden / heads;
    let split = |t: Tensor<B, 3>| t.reshape([b, l, heads, d]).swap_dims(1, 2);
    let additive = key_mask
        .neg()
        .add_scalar(1.0)
        .mul_scalar(f32::MIN)
        .reshape([b, 1, 1, l]);
    let scores = split(q)
        .matmul(split(k).swap_dims(2, 3))
        .div_scalar((d as f64).sqrt())
        + additive;
    softmax(scores, 3)
        .matmul(split(v))
        .swap_dims(1, 2)
        .reshape([b, l, hidden])
        .into_primitive()
        .tensor()
}

/// [`ReaderBackend::fused_gelu`] with the backend's own `gelu`.
pub fn composite_gelu<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    B::gelu(x)
}

#[cfg(feature = "cuda")]
impl ReaderBackend for burn::backend::Cuda {}

/// Attention through the backend's fused operation, on tensors.
pub fn attention<B: ReaderBackend>(
    q: Tensor<B, 3>,
    k: Tensor<B, 3>,
    v: Tensor<B, 3>,
    key_mask: Tensor<B, 2>,
    heads: usize,
) -> Tensor<B, 3> {
    Tensor::from_primitive(TensorPrimitive::Float(B::fused_attention(
        q.into_primitive().tensor(),
        k.into_primitive().tensor(),
        v.into_primitive().tensor(),
        key_mask.into_primitive().tensor(),
        heads,
    )))
}

/// GELU through the backend's fused operation, on a tensor of any rank.
pub fn fused_gelu<B: ReaderBackend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(B::fused_gelu(
        x.into_primitive().tensor(),
    )))
}

#[cfg(test)]
mod tests {
    use burn::backend::{Autodiff, Flex};
    use burn::tensor::activation::gelu;
    use burn::tensor::Distribution;

    use super::*;

    fn max_abs_diff<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
        (a - b).abs().max().into_scalar().elem::<f32>()
    }

    #[test]
    fn fused_attention_matches_the_composite_one_with_masks() {
        let device = Default::default();
        let [b, l, hidden, heads] = [3, 29, 48, 4];
        let random =
            || Tensor::<Flex, 3>::random([b, l, hidden], Distribution::Normal(0.0, 1.0), &device);
        let (q, k, v) = (random(), random(), random());
        // Row 0: a padded tail; row 1: every key masked; row 2: a hole.
        let mut mask = vec![1f32; b * l];
        mask[20..l].fill(0.0);
        mask[l..2 * l].fill(0.0);
        mask[2 * l + 3] = 0.0;
        let mask = Tensor::<Flex, 2>::from_data(TensorData::new(mask, [b, l]), &device);
        let fused = attention(q.clone(), k.clone(), v.clone(), mask.clone(), heads);
        let composite =
            Tensor::<Flex, 3>::from_primitive(TensorPrimitive::Float(composite_attention::<Flex>(
                q.into_primitive().tensor(),
                k.into_primitive().tensor(),
                v.into_primitive().tensor(),
                mask.into_primitive().tensor(),
                heads,
            )));
        let diff = max_abs_diff(fused, composite);
        assert!(diff < 1e-5, "max |Δ| {diff}");
    }

    #[test]
    fn fused_gelu_values_and_gradients_match_burns_gelu() {
        type A = Autodiff<Flex>;
        let device = Default::default();
        let x = Tensor::<A, 2>::random([37, 53], Distribution::Normal(0.0, 2.0), &device);
        let upstream = Tensor::<A, 2>::random([37, 53], Distribution::Normal(0.0, 1.0), &device);
        let grad_of = |fused: bool| {
            let x = x.clone().detach().require_grad();
            let y = if fused {
                fused_gelu(x.clone())
            } else {
                gelu(x.clone())
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            (y.inner(), x.grad(&grads).expect("x has a gradient"))
        };
        let ((y_fused, g_fused), (y_burn, g_burn)) = (grad_of(true), grad_of(false));
        let dy = max_abs_diff(y_fused, y_burn);
        let dg = max_abs_diff(g_fused, g_burn);
        assert!(dy < 1e-5 && dg < 1e-5, "values Δ {dy}, gradients Δ {dg}");
    }
}
