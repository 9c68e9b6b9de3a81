//! Unit tests of `optim.rs` (AdamW, the learning-rate schedules, gradient clipping).

use burn::backend::{Autodiff, Flex};
use burn::nn::{Linear, LinearConfig};

use super::*;

type AB = Autodiff<Flex>;

/// PyTorch's default AdamW hyperparameters with `weight_decay`.
fn adamw(weight_decay: f64) -> AdamWSettings {
    AdamWSettings {
        beta1: 0.9,
        beta2: 0.999,
        epsilon: 1e-8,
        weight_decay,
    }
}

#[test]
fn schedules_follow_transformers() {
    // get_linear_schedule_with_warmup(10 warm-up, 100 total)
    assert_eq!(learning_rate(1.0, Schedule::Linear, 0, 100, 10), 0.0);
    assert!((learning_rate(1.0, Schedule::Linear, 5, 100, 10) - 0.5).abs() < 1e-12);
    assert!((learning_rate(1.0, Schedule::Linear, 10, 100, 10) - 1.0).abs() < 1e-12);
    assert!((learning_rate(1.0, Schedule::Linear, 55, 100, 10) - 0.5).abs() < 1e-12);
    assert_eq!(learning_rate(1.0, Schedule::Linear, 100, 100, 10), 0.0);
    assert!((learning_rate(1.0, Schedule::Cosine, 55, 100, 10) - 0.5).abs() < 1e-12);
    assert!(learning_rate(1.0, Schedule::Cosine, 99, 100, 10) < 0.01);
    assert_eq!(learning_rate(2.0, Schedule::Constant, 99, 100, 10), 2.0);
}

/// Two steps of this AdamW on a Linear layer against the PyTorch formula written out by hand,
/// with decay on the weight only and the global norm clipped.
#[test]
fn matches_torch_adamw_with_groups_and_global_clipping() {
    let device = Default::default();
    let mut linear: Linear<AB> = Linear {
        weight: Param::from_tensor(Tensor::from_data([[0.5f32], [-1.0]], &device)),
        bias: Some(Param::from_tensor(Tensor::from_data([0.25f32], &device))),
    };
    let settings = adamw(0.1);
    let mut opt = AdamW::<Flex>::new(settings);
    let x = Tensor::<AB, 2>::from_data([[1.0f32, 2.0], [3.0, -1.0]], &device);
    // Reference in f64: loss = sum(xW + b)² / 2 ⇒ dL/dy = y.
    let (mut w, mut b) = ([0.5f64, -1.0], 0.25f64);
    let (mut mw, mut vw, mut mb, mut vb) = ([0.0f64; 2], [0.0f64; 2], 0.0f64, 0.0f64);
    let xs = [[1.0f64, 2.0], [3.0, -1.0]];
    let (lr, clip) = (0.01, 1.0);
    for t in 1..=2 {
        let y = linear.forward(x.clone());
        let loss = y.powi_scalar(2).sum().div_scalar(2.0);
        let grads = GradientsParams::from_grads(loss.backward(), &linear);
        let (next, norm) = opt.step::<AB, _>(linear, grads, LearningRates::uniform(lr), clip);
        linear = next;

        let ys: Vec<f64> = xs.iter().map(|r| r[0] * w[0] + r[1] * w[1] + b).collect();
        let mut gw = [0.0; 2];
        for (r, y) in xs.iter().zip(&ys) {
            gw[0] += r[0] * y;
            gw[1] += r[1] * y;
        }
        let mut gb: f64 = ys.iter().sum();
        let ref_norm = (gw[0] * gw[0] + gw[1] * gw[1] + gb * gb).sqrt();
        assert!(
            (norm - ref_norm).abs() < 1e-4 * ref_norm,
            "{norm} vs {ref_norm}"
        );
        let scale = clip / (ref_norm + 1e-6);
        gw = [gw[0] * scale, gw[1] * scale];
        gb *= scale;
        let (c1, c2) = (1.0 - 0.9f64.powi(t), 1.0 - 0.999f64.powi(t));
        for k in 0..2 {
            w[k] *= 1.0 - lr * 0.1;
            mw[k] = 0.9 * mw[k] + 0.1 * gw[k];
            vw[k] = 0.999 * vw[k] + 0.001 * gw[k] * gw[k];
            w[k] -= lr * (mw[k] / c1) / ((vw[k] / c2).sqrt() + 1e-8);
        }
        mb = 0.9 * mb + 0.1 * gb;
        vb = 0.999 * vb + 0.001 * gb * gb;
        b -= lr * (mb / c1) / ((vb / c2).sqrt() + 1e-8);
    }
    let got_w = linear.weight.val().into_data().to_vec::<f32>().unwrap();
    let got_b = linear
        .bias
        .as_ref()
        .unwrap()
        .val()
        .into_data()
        .to_vec::<f32>()
        .unwrap();
    for (g, r) in got_w.iter().zip(&w) {
        assert!((*g as f64 - r).abs() < 1e-6, "weight {g} vs {r}");
    }
    assert!(
        (got_b[0] as f64 - b).abs() < 1e-6,
        "bias {} vs {b}",
        got_b[0]
    );
}

#[derive(Module, Debug)]
struct Two<B: Backend> {
    encoder: Linear<B>,
    head: Linear<B>,
}

/// The head's rate applies from `head_start` on, the base rate before it.
#[test]
fn head_parameters_get_their_own_rate() {
    let device = Default::default();
    let two: Two<AB> = Two {
        encoder: LinearConfig::new(3, 3).init(&device),
        head: LinearConfig::new(3, 2).init(&device),
    };
    let before = (
        two.encoder.weight.val().to_data(),
        two.head.weight.val().to_data(),
    );
    let head_start = param_tensor_count(&two.encoder);
    assert_eq!(head_start, 2);
    let mut opt = AdamW::<Flex>::new(adamw(0.0));
    let x = Tensor::<AB, 2>::ones([1, 3], &device);
    let loss = two.head.forward(two.encoder.forward(x)).sum();
    let grads = GradientsParams::from_grads(loss.backward(), &two);
    let rates = LearningRates {
        base: 0.0,
        head: 0.1,
        head_start,
        base_scales: Arc::from([]),
    };
    let (two, _) = opt.step::<AB, _>(two, grads, rates, 0.0);
    assert_eq!(two.encoder.weight.val().to_data(), before.0);
    // Adam's first step moves every weight with a gradient by the rate.
    let after = two.head.weight.val().into_data().to_vec::<f32>().unwrap();
    for (a, b) in after.iter().zip(before.1.to_vec::<f32>().unwrap()) {
        assert!(((a - b).abs() - 0.1).abs() < 1e-4, "{a} vs {b}");
    }
}

#[test]
fn state_round_trips_and_rejects_another_model() {
    let device = Default::default();
    let linear: Linear<AB> = LinearConfig::new(3, 2).init(&device);
    let mut opt = AdamW::<Flex>::new(adamw(0.0));
    let x = Tensor::<AB, 2>::ones([1, 3], &device);
    let grads = GradientsParams::from_grads(linear.forward(x).sum().backward(), &linear);
    let (linear, _) = opt.step::<AB, _>(linear, grads, LearningRates::uniform(0.1), 0.0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("optimizer.safetensors");
    opt.save(&path).unwrap();
    let mut restored = AdamW::<Flex>::new(opt.settings);
    restored.load::<AB, _>(&path, &linear, 1).unwrap();
    for (a, b) in opt.moments.iter().zip(&restored.moments) {
        let (a, b) = (a.as_ref().unwrap(), b.as_ref().unwrap());
        assert_eq!(a.0.to_data(), b.0.to_data());
        assert_eq!(a.1.to_data(), b.1.to_data());
    }
    let other: Linear<AB> = LinearConfig::new(4, 2).init(&device);
    let err = AdamW::<Flex>::new(opt.settings)
        .load::<AB, _>(&path, &other, 1)
        .unwrap_err();
    assert!(err.to_string().contains("m.0"), "{err}");
}

/// A parameter's values.
fn values<const D: usize>(param: &burn::module::Param<Tensor<AB, D>>) -> Vec<f32> {
    param.val().into_data().to_vec::<f32>().unwrap()
}

/// Layer-wise decay: each encoder parameter moves by the base rate times its scale (Adam's first
/// step moves a weight by its rate), the head by its own rate.
#[test]
fn layer_scales_set_each_encoder_parameters_rate() {
    let device = Default::default();
    let two: Two<AB> = Two {
        encoder: LinearConfig::new(3, 3).init(&device),
        head: LinearConfig::new(3, 2).init(&device),
    };
    let before_weight = values(&two.encoder.weight);
    let before_bias = values(two.encoder.bias.as_ref().unwrap());
    let mut opt = AdamW::<Flex>::new(adamw(0.0));
    let x = Tensor::<AB, 2>::ones([1, 3], &device);
    let loss = two.head.forward(two.encoder.forward(x)).sum();
    let grads = GradientsParams::from_grads(loss.backward(), &two);
    // Weight at depth 0, bias at depth 1, of one layer: decay^1 and decay^0.
    let scales = layer_scales(&[0, 1], 0.25);
    assert_eq!(&*scales, &[0.25, 1.0]);
    let rates = LearningRates {
        base: 0.1,
        head: 0.1,
        head_start: param_tensor_count(&two.encoder),
        base_scales: scales,
    };
    let (two, _) = opt.step::<AB, _>(two, grads, rates, 0.0);
    let moves = |after: Vec<f32>, before: &[f32]| -> Vec<f32> {
        after
            .iter()
            .zip(before)
            .map(|(a, b)| (a - b).abs())
            .collect()
    };
    for m in moves(values(&two.encoder.weight), &before_weight) {
        assert!((m - 0.025).abs() < 1e-4, "weight moved {m}, not 0.25 × 0.1");
    }
    for m in moves(values(two.encoder.bias.as_ref().unwrap()), &before_bias) {
        assert!((m - 0.1).abs() < 1e-4, "bias moved {m}, not 0.1");
    }
    assert!(layer_scales(&[0, 1, 2], 1.0).is_empty());
    assert_eq!(&*layer_scales(&[0, 1, 2], 0.5), &[0.25, 0.5, 1.0]);
}
