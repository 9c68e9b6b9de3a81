//! `import odqa`: odqa's pipeline as a Python extension module (pyo3, built by maturin into an
//! abi3 wheel). It calls the `odqa-pipeline` API only, as the CLI and the server do: the model and
//! index are loaded once per [`pipeline::Pipeline`] object, heavy calls run with the GIL released
//! (other Python threads run meanwhile), Ctrl-C in the calling thread stops them
//! (`KeyboardInterrupt`), and the library's errors arrive as typed exceptions ([`errors`]).

mod errors;
mod pipeline;
mod reader;
mod run;
mod types;

use pyo3::prelude::*;

/// The native part of the `odqa` package (its Python layer is `python/odqa/__init__.py`).
#[pymodule]
fn _odqa(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<pipeline::Pipeline>()?;
    m.add_class::<reader::Reader>()?;
    m.add_class::<types::Answer>()?;
    m.add_class::<types::Passage>()?;
    m.add_function(wrap_pyfunction!(pipeline::read_questions, m)?)?;
    m.add_function(wrap_pyfunction!(pipeline::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(reader::index, m)?)?;
    errors::register(m)
}
