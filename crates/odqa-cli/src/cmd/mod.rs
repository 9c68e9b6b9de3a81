//! One module per subcommand: argument struct + `run`.

pub mod eval;
pub mod index;
pub mod read;
pub mod retrieve;
pub mod train;
