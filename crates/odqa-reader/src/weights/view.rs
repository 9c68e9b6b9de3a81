//! A tensor as a view of a PyTorch storage (first element and strides), read row-major.

/// A view into a storage: its first element and strides, in elements. Checked when the
/// checkpoint is opened: every element it reaches lies inside its storage's bytes.
pub struct View {
    offset: usize,
    strides: Vec<usize>,
}

impl View {
    /// The view whose first element is `offset` and whose strides are `strides` (in elements).
    pub fn new(offset: usize, strides: Vec<usize>) -> View {
        View { offset, strides }
    }

    /// The elements the view reaches in `storage` (elements of `size` bytes), row-major over
    /// `shape`; `None` when one lies outside `storage`.
    pub fn gather(&self, storage: &[u8], size: usize, shape: &[usize]) -> Option<Vec<u8>> {
        let numel: usize = shape.iter().product();
        let mut out = Vec::with_capacity(numel.checked_mul(size)?);
        if numel == 0 {
            return Some(out);
        }
        let mut index = vec![0usize; shape.len()];
        loop {
            let at = index
                .iter()
                .zip(&self.strides)
                .fold(self.offset, |at, (i, s)| at + i * s);
            let start = at.checked_mul(size)?;
            out.extend_from_slice(storage.get(start..start.checked_add(size)?)?);
            // The next index, last dimension fastest.
            let mut d = shape.len();
            loop {
                if d == 0 {
                    return Some(out);
                }
                d -= 1;
                index[d] += 1;
                if index[d] < shape[d] {
                    break;
                }
                index[d] = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(offset: usize, strides: &[usize]) -> View {
        View::new(offset, strides.to_vec())
    }

    /// Elements 0..n as one-byte values.
    fn storage(n: u8) -> Vec<u8> {
        (0..n).collect()
    }

    #[test]
    fn views_are_gathered_row_major_by_their_strides() {
        let s = storage(24);
        // A [2, 3] matrix transposed: shape [3, 2], strides [1, 3].
        assert_eq!(
            view(0, &[1, 3]).gather(&s, 1, &[3, 2]).unwrap(),
            [0, 3, 1, 4, 2, 5]
        );
        // grid[1:3, ::2] of a [4, 6] grid: offset 6, strides [6, 2].
        assert_eq!(
            view(6, &[6, 2]).gather(&s, 1, &[2, 3]).unwrap(),
            [6, 8, 10, 12, 14, 16]
        );
        // Elements of 2 bytes; an expanded (stride 0) dimension; a scalar; an empty tensor.
        assert_eq!(
            view(1, &[0, 1]).gather(&s, 2, &[2, 2]).unwrap(),
            [2, 3, 4, 5, 2, 3, 4, 5]
        );
        assert_eq!(view(5, &[]).gather(&s, 1, &[]).unwrap(), [5]);
        assert!(view(0, &[1, 1]).gather(&s, 4, &[0, 3]).unwrap().is_empty());
        // Past the storage: None, never padding.
        assert!(view(20, &[1]).gather(&s, 1, &[5]).is_none());
    }
}
