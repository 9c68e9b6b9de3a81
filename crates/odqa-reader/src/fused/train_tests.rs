//! Tests of the fused training operations against the composite ones under autodiff: values and
//! gradients, with padded, fully masked and holed rows at an odd length.

use burn::backend::{Autodiff, Flex};
use burn::tensor::{Distribution, TensorData, TensorPrimitive};

use super::*;

type A = Autodiff<Flex>;

fn max_abs_diff<B: Backend, const D: usize>(a: Tensor<B, D>, b: Tensor<B, D>) -> f32 {
    (a - b).abs().max().into_scalar().elem::<f32>()
}

/// Row 0: a padded tail; row 1: every key masked; row 2: a hole.
fn key_mask(b: usize, l: usize) -> Tensor<A, 2> {
    let mut mask = vec![1f32; b * l];
    mask[20..l].fill(0.0);
    mask[l..2 * l].fill(0.0);
    mask[2 * l + 3] = 0.0;
    Tensor::from_data(TensorData::new(mask, [b, l]), &Default::default())
}

/// The mask the CPU kernels derive from `dropout` for `[b, heads, l, l]` probabilities.
fn kernel_keep(dropout: DropoutDraw, [b, heads, l]: [usize; 3]) -> Tensor<A, 4> {
    let n = b * heads * l * l;
    let keep: Vec<f32> = (0..n as u64)
        .map(|i| {
            if dropout.keeps(i) {
                dropout.scale()
            } else {
                0.0
            }
        })
        .collect();
    Tensor::from_data(TensorData::new(keep, [b, heads, l, l]), &Default::default())
}

/// Output and `[dq, dk, dv]` of attention on `q, k, v` against `upstream`, fused or composite.
fn attention_and_grads(
    qkv: &[Tensor<A, 3>; 3],
    mask: &Tensor<A, 2>,
    upstream: &Tensor<A, 3>,
    dropout: DropoutDraw,
    fused: bool,
) -> (Tensor<Flex, 3>, [Tensor<Flex, 3>; 3]) {
    let heads = 4;
    let [q, k, v] = qkv.clone().map(|t| t.detach().require_grad());
    let out = if fused {
        attention_train(
            q.clone(),
            k.clone(),
            v.clone(),
            mask.clone(),
            heads,
            dropout,
        )
    } else {
        let [b, l, _] = q.dims();
        let keep = (dropout.prob > 0.0).then(|| {
            kernel_keep(dropout, [b, heads, l])
                .into_primitive()
                .tensor()
        });
        let prim = |t: &Tensor<A, 3>| t.clone().into_primitive().tensor();
        let (out, _) = composite::attention_train::<A>(
            prim(&q),
            prim(&k),
            prim(&v),
            mask.clone().into_primitive().tensor(),
            heads,
            keep,
        );
        Tensor::from_primitive(TensorPrimitive::Float(out))
    };
    let grads = (out.clone() * upstream.clone()).sum().backward();
    let grad = |t: &Tensor<A, 3>| t.grad(&grads).expect("input has a gradient");
    (out.inner(), [grad(&q), grad(&k), grad(&v)])
}

#[test]
fn training_attention_values_and_gradients_match_the_composite_with_the_same_mask() {
    let device = Default::default();
    let [b, l, hidden] = [3, 29, 48];
    let random = || Tensor::<A, 3>::random([b, l, hidden], Distribution::Normal(0.0, 1.0), &device);
    let qkv = [random(), random(), random()];
    let upstream = random();
    let mask = key_mask(b, l);
    for prob in [0.0, 0.3] {
        let dropout = DropoutDraw { prob, seed: 7 };
        let (out_f, grads_f) = attention_and_grads(&qkv, &mask, &upstream, dropout, true);
        let (out_c, grads_c) = attention_and_grads(&qkv, &mask, &upstream, dropout, false);
        let d_out = max_abs_diff(out_f, out_c);
        assert!(d_out < 1e-5, "p {prob}: output Δ {d_out}");
        for (name, (f, c)) in ["q", "k", "v"].iter().zip(grads_f.into_iter().zip(grads_c)) {
            let d = max_abs_diff(f, c);
            assert!(d < 1e-5, "p {prob}: d{name} Δ {d}");
        }
    }
}

#[test]
fn training_attention_does_not_depend_on_the_thread_count() {
    let device = Default::default();
    let [b, l, hidden] = [2, 40, 32];
    let random = || Tensor::<A, 3>::random([b, l, hidden], Distribution::Normal(0.0, 1.0), &device);
    let qkv = [random(), random(), random()];
    let upstream = random();
    let mask = key_mask(3, l).slice([0..2, 0..l]);
    let dropout = DropoutDraw { prob: 0.1, seed: 3 };
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        pool.install(|| attention_and_grads(&qkv, &mask, &upstream, dropout, true))
    };
    let to_vec = |t: Tensor<Flex, 3>| t.into_data().to_vec::<f32>().expect("f32 values");
    let ((out_1, grads_1), (out_3, grads_3)) = (run(1), run(3));
    assert_eq!(to_vec(out_1), to_vec(out_3));
    for (g1, g3) in grads_1.into_iter().zip(grads_3) {
        assert_eq!(to_vec(g1), to_vec(g3));
    }
}

#[test]
fn fused_dropout_drops_at_its_rate_and_its_gradient_uses_the_same_mask() {
    let device = Default::default();
    let shape = [300, 211];
    let x = Tensor::<A, 2>::random(shape, Distribution::Uniform(1.0, 2.0), &device).require_grad();
    let upstream = Tensor::<A, 2>::random(shape, Distribution::Normal(0.0, 1.0), &device);
    let draw = DropoutDraw {
        prob: 0.1,
        seed: 11,
    };
    let out = dropout(x.clone(), draw);
    let grads = (out.clone() * upstream.clone()).sum().backward();
    let grad = x.grad(&grads).expect("x has a gradient");
    let (out, x, upstream) = (out.inner(), x.inner(), upstream.inner());
    let kept = out.clone().not_equal_elem(0.0).float();
    let rate = 1.0 - kept.clone().mean().into_scalar().elem::<f32>();
    assert!((rate - 0.1).abs() < 0.005, "dropped {rate}");
    // Kept values scaled by 1/(1 − p); the gradient is the upstream through the same mask.
    let d_values = max_abs_diff(out, x * kept.clone() * draw.scale());
    let d_grads = max_abs_diff(grad, upstream * kept * draw.scale());
    assert!(d_values < 1e-6 && d_grads < 1e-6, "{d_values} {d_grads}");
    // Another seed, another mask.
    let other = dropout(
        Tensor::<Flex, 2>::ones(shape, &device),
        DropoutDraw { seed: 12, ..draw },
    );
    let first = dropout(Tensor::<Flex, 2>::ones(shape, &device), draw);
    assert!(max_abs_diff(first, other) > 1.0);
}

#[test]
fn composite_dropout_keeps_its_own_mask_for_the_gradient() {
    // The default path (CUDA's): an explicit mask, reused by the backward pass.
    let device = Default::default();
    let x = Tensor::<Flex, 2>::random([64, 64], Distribution::Uniform(1.0, 2.0), &device);
    let draw = DropoutDraw { prob: 0.5, seed: 0 };
    let (out, keep) = composite::dropout::<Flex>(x.clone().into_primitive().tensor(), draw);
    let keep = keep.expect("the composite path returns its mask");
    let grad = <Flex as ReaderBackend>::fused_dropout_backward(
        Tensor::<Flex, 2>::ones([64, 64], &device)
            .into_primitive()
            .tensor(),
        draw,
        Some(keep.clone()),
    );
    let float = |t| Tensor::<Flex, 2>::from_primitive(TensorPrimitive::Float(t));
    let (out, keep, grad) = (float(out), float(keep), float(grad));
    assert!(max_abs_diff(out, x * keep.clone()) < 1e-6);
    assert!(max_abs_diff(grad, keep) < 1e-6);
}

#[test]
fn fused_layer_norm_values_and_gradients_match_burns_layer_norm() {
    // 150 rows: two full blocks of the backward kernel and a partial one.
    let device = Default::default();
    let [rows, d] = [150, 48];
    let eps = 1e-5;
    let x = Tensor::<A, 3>::random([3, rows / 3, d], Distribution::Normal(0.5, 2.0), &device);
    let upstream =
        Tensor::<A, 3>::random([3, rows / 3, d], Distribution::Normal(0.0, 1.0), &device);
    let mut norm = burn::nn::LayerNormConfig::new(d)
        .with_epsilon(eps)
        .init::<A>(&device);
    norm.gamma = burn::module::Param::from_tensor(Tensor::random(
        [d],
        Distribution::Normal(1.0, 0.3),
        &device,
    ));
    norm.beta = Some(burn::module::Param::from_tensor(Tensor::random(
        [d],
        Distribution::Normal(0.0, 0.3),
        &device,
    )));
    let run = |fused: bool, threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a thread pool");
        pool.install(|| {
            let x = x.clone().detach().require_grad();
            let gamma = norm.gamma.val().detach().require_grad();
            let beta = norm
                .beta
                .as_ref()
                .expect("beta")
                .val()
                .detach()
                .require_grad();
            let mut n = norm.clone();
            n.gamma = burn::module::Param::from_tensor(gamma.clone());
            n.beta = Some(burn::module::Param::from_tensor(beta.clone()));
            let y = if fused {
                layer_norm(&n, eps, x.clone())
            } else {
                n.forward(x.clone())
            };
            let grads = (y.clone() * upstream.clone()).sum().backward();
            let flat = |t: Tensor<Flex, 1>| t.into_data().to_vec::<f32>().expect("f32");
            let g3 = |t: Tensor<Flex, 3>| t.reshape([rows * d]);
            (
                flat(g3(y.inner())),
                flat(g3(x.grad(&grads).expect("dx"))),
                flat(gamma.grad(&grads).expect("dγ")),
                flat(beta.grad(&grads).expect("dβ")),
            )
        })
    };
    let max_diff = |a: &[f32], b: &[f32]| {
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max)
    };
    let (fused, composite) = (run(true, 2), run(false, 2));
    // The gain's and bias's gradients are sums over 150 rows: compared relative to their size.
    let pairs = [
        ("y", &fused.0, &composite.0, 1.0),
        ("dx", &fused.1, &composite.1, 1.0),
        ("dγ", &fused.2, &composite.2, rows as f32),
        ("dβ", &fused.3, &composite.3, rows as f32),
    ];
    for (name, f, c, scale) in pairs {
        let diff = max_diff(f, c) / scale;
        assert!(diff < 1e-5, "{name}: Δ {diff}");
    }
    assert_eq!(fused, run(true, 1), "depends on the thread count");
}
