//! One module per subcommand: argument struct + `run`.

pub mod ask;
pub mod breakdown;
pub mod download;
pub mod eval;
mod help_defaults;
pub mod index;
pub mod index_dense;
pub mod merge;
pub mod model;
pub mod model_convert;
pub mod model_import;
pub mod model_merge;
pub mod predict;
pub mod read;
pub mod retrieve;
pub mod serve;
pub mod train;
pub mod tune;
