//! Building a packed body: the checkpoint's header, then each tensor in the encoding chosen for
//! it (a reference to the base, its XOR with the base, 4-bit blocks, or as it is).

use std::collections::HashMap;

use safetensors::tensor::{Metadata, TensorInfo};

use crate::file::{sha256_hex, PackSummary};
use crate::segments::{
    base_as, base_names, choose, element_bytes, encode_q4, to_planes, xor, BaseTensor, Encoding,
    Segment,
};

/// The tensors of a checkpoint by name, over its data region `data`.
pub(crate) fn tensors_of<'a>(
    meta: &'a Metadata,
    data: &'a [u8],
) -> HashMap<String, BaseTensor<'a>> {
    meta.tensors()
        .into_iter()
        .map(|(name, info)| (name, base_tensor(info, data)))
        .collect()
}

/// The tensor `info` describes, over its checkpoint's data region `data`.
pub(crate) fn base_tensor<'a>(info: &'a TensorInfo, data: &'a [u8]) -> BaseTensor<'a> {
    let (s, e) = info.data_offsets;
    BaseTensor {
        dtype: info.dtype,
        shape: &info.shape,
        bytes: &data[s..e],
    }
}

/// The packed body being built: the original header, then one payload per segment.
pub(crate) struct Packer {
    pub body: Vec<u8>,
    pub segments: Vec<Segment>,
    pub summary: PackSummary,
}

impl Packer {
    /// A body holding the header of the checkpoint `bytes`.
    pub fn new(bytes: &[u8], header_bytes: usize) -> Packer {
        Packer {
            body: bytes[..header_bytes].to_vec(),
            segments: Vec::new(),
            summary: PackSummary {
                original_bytes: bytes.len(),
                packed_bytes: 0,
                sha256: sha256_hex(bytes),
                base_tensors: 0,
                xor_tensors: 0,
                q4_tensors: 0,
                coded_blocks: 0,
                raw_blocks: 0,
                raw_tensors: 0,
            },
        }
    }

    /// Appends `payload` as the bytes of `segment`.
    fn add(&mut self, segment: Segment, payload: &[u8]) {
        self.body.extend_from_slice(payload);
        self.segments.push(Segment {
            payload: payload.len(),
            ..segment
        });
    }

    /// Bytes of the data region between tensors, stored as they are.
    pub fn gap(&mut self, start: usize, end: usize, bytes: &[u8]) {
        let segment = Segment {
            name: String::new(),
            start,
            end,
            encoding: Encoding::Raw,
            payload: 0,
            dtype: None,
            shape: None,
            base_name: None,
        };
        self.add(segment, bytes);
    }

    /// One tensor, in the encoding [`choose`] picks for it against `base`.
    pub fn tensor(
        &mut self,
        name: String,
        info: &TensorInfo,
        tensor: &[u8],
        base: &HashMap<String, BaseTensor<'_>>,
    ) {
        let (start, end) = info.data_offsets;
        let base_name = base_names(&name).find(|n| base.contains_key(*n));
        let base_tensor = base_name.and_then(|n| base.get(n));
        let encoding = choose(info, tensor, base_tensor);
        let from_base = matches!(encoding, Encoding::Base | Encoding::BaseXor);
        let segment = Segment {
            base_name: from_base.then(|| base_name.unwrap_or_default().to_string()),
            name,
            start,
            end,
            encoding,
            payload: 0,
            dtype: Some(info.dtype),
            shape: Some(info.shape.clone()),
        };
        let summary = &mut self.summary;
        match encoding {
            Encoding::Base => {
                summary.base_tensors += 1;
                self.add(segment, &[]);
            }
            Encoding::BaseXor => {
                let widened = base_tensor
                    .and_then(|b| base_as(b, info.dtype, &info.shape))
                    .unwrap_or_default();
                summary.xor_tensors += 1;
                let planes = to_planes(&xor(tensor, &widened), element_bytes(segment.dtype));
                self.add(segment, &planes);
            }
            Encoding::Q4F16 => {
                let coded = encode_q4(tensor);
                summary.q4_tensors += 1;
                summary.coded_blocks += coded.coded;
                summary.raw_blocks += coded.raw;
                self.add(segment, &coded.bytes);
            }
            Encoding::Raw => {
                summary.raw_tensors += 1;
                self.add(segment, tensor);
            }
        }
    }
}
