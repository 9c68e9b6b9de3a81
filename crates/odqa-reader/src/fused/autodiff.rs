//! [`ReaderBackend`] for `Autodiff<B>`: training attention, dropout and GELU as tracked
//! operations whose forward and backward passes are the inner backend's fused operations;
//! inference attention is the composite default (tracked op by op).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{unary, Backward, Ops, OpsKind};
use burn::backend::autodiff::NodeId;
use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::FloatTensor;

use super::{AttentionSaved, DropoutDraw, ReaderBackend};

/// The backward step of [`ReaderBackend::fused_gelu`]; its state is the input.
#[derive(Debug)]
struct GeluBackward;

impl<B: ReaderBackend> Backward<B, 1> for GeluBackward {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let input = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::fused_gelu_backward(input, grad)
        });
    }
}

/// The backward step of [`ReaderBackend::fused_dropout`]; its state is the draw and its mask.
#[derive(Debug)]
struct DropoutBackward;

impl<B: ReaderBackend> Backward<B, 1> for DropoutBackward {
    type State = (DropoutDraw, Option<FloatTensor<B>>);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (dropout, keep) = ops.state;
        unary::<B, _>(ops.parents, ops.node, grads, |grad| {
            B::fused_dropout_backward(grad, dropout, keep)
        });
    }
}

/// Gives each tracked parent (by node id, in the order of the parents) its gradient.
fn register_parents<B: ReaderBackend, const N: usize>(
    parents: [Option<NodeId>; N],
    parent_grads: [FloatTensor<B>; N],
    grads: &mut Gradients,
) {
    for (parent, grad) in parents.into_iter().zip(parent_grads) {
        if let Some(id) = parent {
            grads.register::<B>(id, grad);
        }
    }
}

/// What the backward step of [`ReaderBackend::fused_attention_train`] keeps.
#[derive(Debug, Clone)]
struct AttentionState<B: ReaderBackend> {
    qkv: [FloatTensor<B>; 3],
    saved: AttentionSaved<B>,
    heads: usize,
    dropout: DropoutDraw,
}

/// The backward step of [`ReaderBackend::fused_attention_train`] (parents q, k, v).
#[derive(Debug)]
struct AttentionBackward;

impl<B: ReaderBackend> Backward<B, 3> for AttentionBackward {
    type State = AttentionState<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let AttentionState {
            qkv,
            saved,
            heads,
            dropout,
        } = ops.state;
        let grads_qkv = B::fused_attention_train_backward(grad, qkv, saved, heads, dropout);
        register_parents::<B, 3>(ops.parents.map(|p| p.map(|node| node.id)), grads_qkv, grads);
    }
}

/// The backward step of [`ReaderBackend::fused_layer_norm`] (parents x, γ, β); its state is the
/// input, the gain and epsilon.
#[derive(Debug)]
struct LayerNormBackward;

impl<B: ReaderBackend> Backward<B, 3> for LayerNormBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, f64);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, gamma, eps) = ops.state;
        let grads_x_gamma_beta = B::fused_layer_norm_backward(x, gamma, grad, eps);
        register_parents::<B, 3>(
            ops.parents.map(|p| p.map(|node| node.id)),
            grads_x_gamma_beta,
            grads,
        );
    }
}

impl<B: ReaderBackend, C: CheckpointStrategy> ReaderBackend for Autodiff<B, C> {
    fn check_available() -> crate::Result<()> {
        B::check_available()
    }

    fn dropout_uses_seeds() -> bool {
        B::dropout_uses_seeds()
    }

    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        eps: f64,
    ) -> FloatTensor<Self> {
        let nodes = [x.node.clone(), gamma.node.clone(), beta.node.clone()];
        let prep = LayerNormBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful();
        let out = B::fused_layer_norm(
            x.primitive.clone(),
            gamma.primitive.clone(),
            beta.primitive,
            eps,
        );
        match prep {
            OpsKind::Tracked(prep) => prep.finish((x.primitive, gamma.primitive, eps), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn fused_attention_train(
        q: FloatTensor<Self>,
        k: FloatTensor<Self>,
        v: FloatTensor<Self>,
        key_mask: FloatTensor<Self>,
        heads: usize,
        dropout: DropoutDraw,
    ) -> (FloatTensor<Self>, AttentionSaved<Self>) {
        let nodes = [q.node.clone(), k.node.clone(), v.node.clone()];
        let qkv = [q.primitive, k.primitive, v.primitive];
        let (out, saved) = B::fused_attention_train(
            qkv[0].clone(),
            qkv[1].clone(),
            qkv[2].clone(),
            key_mask.primitive,
            heads,
            dropout,
        );
        // The probabilities are not a differentiable output: the caller gets the output only.
        let probs = <Autodiff<B, C> as AutodiffBackend>::from_inner(saved.probs.clone());
        let out = match AttentionBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let state = AttentionState {
                    qkv,
                    saved,
                    heads,
                    dropout,
                };
                prep.finish(state, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        (out, AttentionSaved { probs, keep: None })
    }

    fn fused_dropout(
        x: FloatTensor<Self>,
        dropout: DropoutDraw,
    ) -> (FloatTensor<Self>, Option<FloatTensor<Self>>) {
        let prep = DropoutBackward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful();
        let (out, keep) = B::fused_dropout(x.primitive, dropout);
        let out = match prep {
            OpsKind::Tracked(prep) => prep.finish((dropout, keep), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        };
        (out, None)
    }

    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match GeluBackward
            .prepare::<C>([x.node.clone()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                let out = B::fused_gelu(x.primitive.clone());
                prep.finish(x.primitive, out)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::fused_gelu(x.primitive)),
        }
    }
}
