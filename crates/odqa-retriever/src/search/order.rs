//! The indexed passages by corpus order (the order the dense vectors follow): the table from
//! `corpus_order` to tantivy's document address, read from the fast field once, when first needed.

use std::ops::Range;

use tantivy::DocAddress;

use super::{Hit, Retriever};
use crate::error::{Result, RetrieverError};
use crate::layout::CORPUS_ORDER_FIELD;

impl Retriever {
    /// The document address of every indexed passage, by corpus order.
    fn by_order(&self) -> Result<&[DocAddress]> {
        if let Some(table) = self.by_order.get() {
            return Ok(table);
        }
        let table = self.read_order_table()?;
        let _ = self.by_order.set(table);
        Ok(self.by_order.get().map(Vec::as_slice).unwrap_or_default())
    }

    fn read_order_table(&self) -> Result<Vec<DocAddress>> {
        let searcher = self.reader.searcher();
        let n = searcher.num_docs() as usize;
        let unset = DocAddress::new(u32::MAX, u32::MAX);
        let mut table = vec![unset; n];
        let corrupt = |message: String| RetrieverError::Corrupt {
            path: self.dir.clone(),
            message,
        };
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let column = segment.fast_fields().u64(CORPUS_ORDER_FIELD)?;
            for doc in 0..segment.max_doc() {
                let order = column
                    .first(doc)
                    .ok_or_else(|| corrupt(format!("a passage without {CORPUS_ORDER_FIELD}")))?;
                let slot = table
                    .get_mut(order as usize)
                    .filter(|slot| **slot == unset)
                    .ok_or_else(|| {
                        corrupt(format!(
                            "{CORPUS_ORDER_FIELD} {order} out of range or repeated"
                        ))
                    })?;
                *slot = DocAddress::new(ord as u32, doc);
            }
        }
        if table.contains(&unset) {
            return Err(corrupt(format!("{CORPUS_ORDER_FIELD} has gaps")));
        }
        Ok(table)
    }

    /// Title and text of the passages whose corpus order is in `range` (clamped to the index).
    pub fn passages_in_order(&self, range: Range<u64>) -> Result<Vec<(String, String)>> {
        let table = self.by_order()?;
        let searcher = self.reader.searcher();
        let end = (range.end as usize).min(table.len());
        let start = (range.start as usize).min(end);
        table[start..end]
            .iter()
            .map(|&address| {
                let hit = self.hit(0, 0.0, &self.fetch(&searcher, address)?);
                Ok((hit.title, hit.text))
            })
            .collect()
    }

    /// The passage of corpus order `order` as a hit of `rank` and `score`.
    pub fn hit_by_order(&self, order: u64, rank: usize, score: f32) -> Result<Hit> {
        let table = self.by_order()?;
        let address = *table.get(order as usize).ok_or_else(|| {
            RetrieverError::InvalidArgument(format!(
                "no passage of corpus order {order} (the index has {})",
                table.len()
            ))
        })?;
        let searcher = self.reader.searcher();
        Ok(self.hit(rank, score, &self.fetch(&searcher, address)?))
    }
}
