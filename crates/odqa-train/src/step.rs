//! One optimizer step's gradients: the step's windows in micro-batches, forward with dropout,
//! run_qa loss, backward, accumulated.

use burn::optim::{GradientsAccumulator, GradientsParams};
use burn::prelude::*;
use burn::tensor::backend::AutodiffBackend;
use odqa_reader::features::Feature;
use odqa_reader::model::qa_loss;
use odqa_reader::read::batch_input;
use odqa_reader::{QaModel, ReaderBackend, ReaderConfig};

/// Gradients of one optimizer step (the mean loss over `chunk`'s windows, in micro-batches of
/// `batch_size`) and that mean loss.
pub(crate) fn step_gradients<AB: AutodiffBackend + ReaderBackend>(
    model: &QaModel<AB>,
    config: &ReaderConfig,
    features: &[Feature],
    chunk: &[usize],
    batch_size: usize,
    device: &AB::Device,
) -> (GradientsParams, f64) {
    let mut accumulator = GradientsAccumulator::<QaModel<AB>>::new();
    // The losses stay on the device until the step's backward passes are queued: reading one
    // before its backward pass would stall a GPU's queue every micro-batch.
    let mut losses = Vec::new();
    for micro in chunk.chunks(batch_size) {
        let feats: Vec<&Feature> = micro.iter().map(|&i| &features[i]).collect();
        let starts: Vec<i64> = feats
            .iter()
            .map(|f| f.start_position.unwrap_or(0) as i64)
            .collect();
        let ends: Vec<i64> = feats
            .iter()
            .map(|f| f.end_position.unwrap_or(0) as i64)
            .collect();
        let (start, end) = model.forward(batch_input(config, &feats, device), true);
        let (loss, _, _) = qa_loss(start, end, &starts, &ends);
        // Weighted by the micro-batch's share of the step's windows: the step's loss is the mean
        // over all its windows even when the last micro-batch is smaller.
        let weight = micro.len() as f64 / chunk.len() as f64;
        let loss = loss.mul_scalar(weight);
        losses.push(loss.clone().detach());
        let grads = GradientsParams::from_grads(loss.backward(), model);
        accumulator.accumulate(model, grads);
    }
    let loss_sum = losses
        .into_iter()
        .reduce(|a, b| a + b)
        .map_or(0.0, |total| total.into_scalar().elem::<f64>());
    (accumulator.grads(), loss_sum)
}
