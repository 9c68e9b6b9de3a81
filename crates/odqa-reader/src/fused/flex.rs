//! [`ReaderBackend`] for burn's CPU backend: the kernels of [`super::kernels`] on f32 tensors,
//! the composite operations for other dtypes.

use burn::backend::Flex;
use burn::tensor::ops::ActivationOps;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, TensorData};
use burn_flex::FlexTensor;

use super::kernels::{self, AttentionShape};
use super::{composite_attention, composite_gelu, ReaderBackend};

/// The tensor with its elements contiguous and covering its whole buffer (copied only when it
/// is a strided or partial view; not copied when it is already so).
fn into_contiguous(t: FlexTensor) -> FlexTensor {
    let contiguous = t.to_contiguous();
    drop(t);
    contiguous
}

/// Applies `f` to the values of an f32 tensor: in place when the tensor owns its buffer, on a
/// copy otherwise.
fn map_f32(t: FlexTensor, f: impl FnOnce(&mut [f32])) -> FlexTensor {
    let mut t = into_contiguous(t);
    if let Some(values) = t.try_storage_mut::<f32>() {
        f(values);
        return t;
    }
    let dims = t.layout().shape().to_vec();
    let mut values = t.storage::<f32>().to_vec();
    f(&mut values);
    FlexTensor::from_data(TensorData::new(values, dims))
}

impl ReaderBackend for Flex {
    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        key_mask: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        let all_f32 = [&q, &k, &v, &key_mask]
            .iter()
            .all(|t| t.dtype() == DType::F32);
        let dims = q.layout().shape().to_vec();
        let (true, &[batch, seq, hidden]) = (all_f32, &dims[..]) else {
            return composite_attention::<Self>(q, k, v, key_mask, heads);
        };
        let [q, k, v, key_mask] = [q, k, v, key_mask].map(into_contiguous);
        let shape = AttentionShape {
            batch,
            seq,
            hidden,
            heads,
        };
        let out = kernels::attention(
            q.storage::<f32>(),
            k.storage::<f32>(),
            v.storage::<f32>(),
            key_mask.storage::<f32>(),
            shape,
        );
        FlexTensor::from_data(TensorData::new(out, [batch, seq, hidden]))
    }

    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return composite_gelu::<Self>(x);
        }
        map_f32(x, kernels::gelu_in_place)
    }

    fn fused_gelu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 || grad.dtype() != DType::F32 {
            return Self::gelu_backward(x, grad);
        }
        let x = into_contiguous(x);
        map_f32(grad, |values| {
            kernels::gelu_backward_in_place(x.storage::<f32>(), values)
        })
    }
}
