//! [`ReaderBackend`] for burn's CPU backend: the kernels of [`super::kernels`],
//! [`super::train_kernels`] and [`super::norm_kernels`] on f32 tensors, the composite operations
//! for other dtypes.

use burn::backend::Flex;
use burn::tensor::ops::FloatTensor;
use burn::tensor::ops::{ActivationOps, FloatTensorOps};
use burn::tensor::{DType, TensorData};
use burn_flex::FlexTensor;

use super::kernels::{self, AttentionShape};
use super::{composite, norm_kernels, train_kernels, AttentionSaved, DropoutDraw, ReaderBackend};
use crate::precision::PackedLinear;

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

fn all_f32(tensors: &[&FlexTensor]) -> bool {
    tensors.iter().all(|t| t.dtype() == DType::F32)
}

/// The attention shape of `q` when it is `[batch, seq, hidden]` and every tensor is f32.
fn attention_shape(q: &FlexTensor, others: &[&FlexTensor], heads: usize) -> Option<AttentionShape> {
    let &[batch, seq, hidden] = q.layout().shape().to_vec().as_slice() else {
        return None;
    };
    (all_f32(&[q]) && all_f32(others)).then_some(AttentionShape {
        batch,
        seq,
        hidden,
        heads,
    })
}

/// Attention on f32 `[batch, seq, hidden]` tensors through the kernel (its bf16 products when
/// `bf16`); the composite operations for anything else.
fn cpu_attention([q, k, v, key_mask]: [FlexTensor; 4], heads: usize, bf16: bool) -> FlexTensor {
    let Some(shape) = attention_shape(&q, &[&k, &v, &key_mask], heads) else {
        return composite::attention::<Flex>(q, k, v, key_mask, heads);
    };
    let [q, k, v, key_mask] = [q, k, v, key_mask].map(into_contiguous);
    let out = kernels::attention(
        q.storage::<f32>(),
        k.storage::<f32>(),
        v.storage::<f32>(),
        key_mask.storage::<f32>(),
        shape,
        bf16,
    );
    let AttentionShape {
        batch, seq, hidden, ..
    } = shape;
    FlexTensor::from_data(TensorData::new(out, [batch, seq, hidden]))
}

impl ReaderBackend for Flex {
    fn dropout_uses_seeds() -> bool {
        true
    }

    fn reduced_precision() -> bool {
        true
    }

    fn packed_linear(x: FloatTensor<Self>, packed: &PackedLinear) -> Option<FloatTensor<Self>> {
        let &[rows, _] = x.layout().shape().to_vec().as_slice() else {
            return None;
        };
        if !all_f32(&[&x]) {
            return None;
        }
        let x = into_contiguous(x);
        let out = packed.product(x.storage::<f32>(), rows);
        let cols = packed.out_features();
        Some(FlexTensor::from_data(TensorData::new(out, [rows, cols])))
    }

    fn fused_attention(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        key_mask: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        cpu_attention([q, k, v, key_mask], heads, false)
    }

    fn fused_attention_bf16(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        key_mask: FloatTensor<Self>,
        heads: usize,
    ) -> FloatTensor<Self> {
        cpu_attention([q, k, v, key_mask], heads, true)
    }

    fn fused_attention_train(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        key_mask: FloatTensor<Self>,
        heads: usize,
        dropout: DropoutDraw,
    ) -> (FloatTensor<Self>, AttentionSaved<Self>) {
        let Some(shape) = attention_shape(&q, &[&k, &v, &key_mask], heads) else {
            return composite::attention_train_drawn::<Self>(q, k, v, key_mask, heads, dropout);
        };
        let AttentionShape {
            batch, seq, hidden, ..
        } = shape;
        let [q, k, v, key_mask] = [q, k, v, key_mask].map(into_contiguous);
        let (out, probs) = train_kernels::attention_train(
            q.storage::<f32>(),
            k.storage::<f32>(),
            v.storage::<f32>(),
            key_mask.storage::<f32>(),
            shape,
            dropout,
        );
        let out = FlexTensor::from_data(TensorData::new(out, [batch, seq, hidden]));
        let probs = FlexTensor::from_data(TensorData::new(probs, [batch, heads, seq, seq]));
        (out, AttentionSaved { probs, keep: None })
    }

    fn fused_attention_train_backward(
        grad: FloatTensor<Self>,
        qkv: [FloatTensor<Self>; 3],
        saved: AttentionSaved<Self>,
        heads: usize,
        dropout: DropoutDraw,
    ) -> [FloatTensor<Self>; 3] {
        let [q, k, v] = qkv;
        let shape = attention_shape(&q, &[&k, &v, &grad, &saved.probs], heads);
        let (Some(shape), None) = (shape, &saved.keep) else {
            return composite::attention_train_backward::<Self>(
                grad,
                [q, k, v],
                saved.probs,
                saved.keep,
                heads,
            );
        };
        let AttentionShape {
            batch, seq, hidden, ..
        } = shape;
        let [grad, q, k, v, probs] = [grad, q, k, v, saved.probs].map(into_contiguous);
        let grads = train_kernels::attention_train_backward(
            grad.storage::<f32>(),
            [q.storage::<f32>(), k.storage::<f32>(), v.storage::<f32>()],
            probs.storage::<f32>(),
            shape,
            dropout,
        );
        grads.map(|g| FlexTensor::from_data(TensorData::new(g, [batch, seq, hidden])))
    }

    fn fused_dropout(
        x: FloatTensor<Self>,
        dropout: DropoutDraw,
    ) -> (FloatTensor<Self>, Option<FloatTensor<Self>>) {
        if x.dtype() != DType::F32 {
            return composite::dropout::<Self>(x, dropout);
        }
        (
            map_f32(x, |values| train_kernels::dropout_in_place(values, dropout)),
            None,
        )
    }

    fn fused_dropout_backward(
        grad: FloatTensor<Self>,
        dropout: DropoutDraw,
        keep: Option<FloatTensor<Self>>,
    ) -> FloatTensor<Self> {
        match keep {
            Some(keep) => Self::float_mul(grad, keep),
            None => map_f32(grad, |values| {
                train_kernels::dropout_in_place(values, dropout)
            }),
        }
    }

    fn fused_layer_norm_backward(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        eps: f64,
    ) -> [FloatTensor<Self>; 3] {
        if !all_f32(&[&x, &gamma, &grad]) {
            return composite::layer_norm_backward::<Self>(x, gamma, grad, eps);
        }
        let dims = x.layout().shape().to_vec();
        let [x, gamma, grad] = [x, gamma, grad].map(into_contiguous);
        let d = gamma.storage::<f32>().len();
        let [dx, d_gamma, d_beta] = norm_kernels::layer_norm_backward(
            x.storage::<f32>(),
            gamma.storage::<f32>(),
            grad.storage::<f32>(),
            eps as f32,
        );
        [
            FlexTensor::from_data(TensorData::new(dx, dims)),
            FlexTensor::from_data(TensorData::new(d_gamma, [d])),
            FlexTensor::from_data(TensorData::new(d_beta, [d])),
        ]
    }

    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype() != DType::F32 {
            return Self::gelu(x);
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
