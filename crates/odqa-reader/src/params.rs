//! The visitors of the modules' one parameter description ([`ParamVisitor`]): [`Loader`] takes
//! each tensor from a [`Checkpoint`], [`Saver`] writes each into a [`CheckpointWriter`] and
//! [`Expect`] lists each name with its stored shape (checked against a checkpoint's header before
//! anything is allocated). The names, layouts and renames are those of
//! [`ParamVisitor`]'s provided methods, in `weights.rs`.
//!
//! A module is loaded by visiting a skeleton of it (built from the config with burn's lazy
//! initialisers, so nothing is allocated until a parameter is read) with a [`Loader`], which
//! replaces every parameter.

use burn::module::Param;
use burn::prelude::*;

use crate::error::Result;
use crate::weights::{Checkpoint, CheckpointWriter, ParamVisitor};

/// Replaces each visited parameter by the checkpoint's tensor of that name, after checking its
/// shape (errors name the tensor); taken tensors leave the checkpoint.
pub struct Loader<'a, B: Backend> {
    ckpt: &'a mut Checkpoint,
    device: &'a B::Device,
}

impl<'a, B: Backend> Loader<'a, B> {
    /// A loader taking tensors from `ckpt` onto `device`.
    pub fn new(ckpt: &'a mut Checkpoint, device: &'a B::Device) -> Self {
        Loader { ckpt, device }
    }
}

impl<B: Backend> ParamVisitor<B> for Loader<'_, B> {
    fn tensor<const D: usize>(
        &mut self,
        name: &str,
        param: &mut Param<Tensor<B, D>>,
        shape: [usize; D],
    ) -> Result<()> {
        *param = self.ckpt.param(name, shape, self.device)?;
        Ok(())
    }

    fn transposed(
        &mut self,
        name: &str,
        param: &mut Param<Tensor<B, 2>>,
        [d_out, d_in]: [usize; 2],
    ) -> Result<()> {
        *param = self.ckpt.linear_weight(name, d_in, d_out, self.device)?;
        Ok(())
    }
}

/// Adds each visited parameter to a checkpoint writer under its checkpoint name and layout.
pub struct Saver<'a> {
    writer: &'a mut CheckpointWriter,
}

impl<'a> Saver<'a> {
    /// A saver adding tensors to `writer`.
    pub fn new(writer: &'a mut CheckpointWriter) -> Self {
        Saver { writer }
    }
}

impl<B: Backend> ParamVisitor<B> for Saver<'_> {
    fn tensor<const D: usize>(
        &mut self,
        name: &str,
        param: &mut Param<Tensor<B, D>>,
        _shape: [usize; D],
    ) -> Result<()> {
        self.writer.add(name, param.val());
        Ok(())
    }

    fn transposed(
        &mut self,
        name: &str,
        param: &mut Param<Tensor<B, 2>>,
        _stored: [usize; 2],
    ) -> Result<()> {
        self.writer.add_linear_weight(name, param.val());
        Ok(())
    }
}

/// A tensor name and its shape as stored (PyTorch layout: Linear weights `[out, in]`).
pub type ExpectedTensor = (String, Vec<usize>);

/// Lists each visited parameter's checkpoint name and stored shape, in visiting order; reads no
/// parameter (a skeleton's lazy parameters stay unallocated).
#[derive(Debug, Default)]
pub struct Expect {
    tensors: Vec<ExpectedTensor>,
}

impl Expect {
    /// The tensors listed so far, in visiting order.
    pub fn into_tensors(self) -> Vec<ExpectedTensor> {
        self.tensors
    }
}

impl<B: Backend> ParamVisitor<B> for Expect {
    fn tensor<const D: usize>(
        &mut self,
        name: &str,
        _param: &mut Param<Tensor<B, D>>,
        shape: [usize; D],
    ) -> Result<()> {
        self.tensors.push((name.to_string(), shape.to_vec()));
        Ok(())
    }

    fn transposed(
        &mut self,
        name: &str,
        _param: &mut Param<Tensor<B, 2>>,
        stored: [usize; 2],
    ) -> Result<()> {
        self.tensors.push((name.to_string(), stored.to_vec()));
        Ok(())
    }
}
