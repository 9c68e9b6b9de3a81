//! The library's errors as Python exceptions: one class per kind, all under `odqa.OdqaError`,
//! with the messages the CLI prints.

use odqa_pipeline::PipelineError;
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyboardInterrupt};
use pyo3::prelude::*;

create_exception!(
    odqa,
    OdqaError,
    PyException,
    "Base class of the errors odqa raises."
);
create_exception!(
    odqa,
    QuestionError,
    OdqaError,
    "A question that cannot be answered as asked: empty, without a searchable word, too long."
);
create_exception!(
    odqa,
    ModelError,
    OdqaError,
    "A model or adapter directory that cannot be loaded or run."
);
create_exception!(
    odqa,
    IndexFormatError,
    OdqaError,
    "An index that cannot be opened or searched (missing, damaged, another format, no vectors)."
);
create_exception!(
    odqa,
    DataError,
    OdqaError,
    "A question set, corpus or predictions file that cannot be read (names the file and line)."
);
create_exception!(
    odqa,
    SettingsError,
    OdqaError,
    "A settings file or option with a bad value."
);

/// The exception for `error`: Ctrl-C is `KeyboardInterrupt`, the rest one of odqa's classes.
pub fn to_py(error: PipelineError) -> PyErr {
    let message = error.to_string();
    match error {
        PipelineError::Interrupted => PyKeyboardInterrupt::new_err(message),
        PipelineError::Question(_) => QuestionError::new_err(message),
        PipelineError::Reader(_) => ModelError::new_err(message),
        PipelineError::Retriever(_) => IndexFormatError::new_err(message),
        PipelineError::Core(_) => DataError::new_err(message),
        PipelineError::Settings { .. }
        | PipelineError::Setting(_)
        | PipelineError::Cache { .. } => SettingsError::new_err(message),
        _ => OdqaError::new_err(message),
    }
}

/// Adds the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("OdqaError", py.get_type::<OdqaError>())?;
    m.add("QuestionError", py.get_type::<QuestionError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("IndexFormatError", py.get_type::<IndexFormatError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("SettingsError", py.get_type::<SettingsError>())?;
    Ok(())
}
