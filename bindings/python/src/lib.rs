//! Python bindings of rmqproducer: the native module `rmqproducer._rmqproducer`.
//!
//! The Python package `rmqproducer` re-exports these classes and defines the exception classes
//! (`rmqproducer.errors`) that [`errors`] raises.

mod dispatch;
mod errors;
mod hook;
mod logging;
mod message;
mod producer;
mod result;
mod transaction;

use pyo3::prelude::*;

#[pymodule]
mod _rmqproducer {
    use pyo3::prelude::*;
    use pyo3::types::PyDict;
    use rmq_core::ErrorKind;
    use rmq_core::producer::OPTIONS;

    #[pymodule_export]
    use super::hook::PySendContext;
    #[pymodule_export]
    use super::message::PyMessage;
    #[pymodule_export]
    use super::producer::PyProducer;
    #[pymodule_export]
    use super::result::{PyMessageQueue, PySendResult, PySendStatus};
    #[pymodule_export]
    use super::transaction::{
        PyLocalTransactionState, PyTransactionCheck, PyTransactionProducer, PyTransactionSendResult,
    };

    #[pymodule_export]
    use super::logging::set_log_level;

    /// Each error kind's name and the class of `rmqproducer.errors` raised for it.
    #[pyfunction]
    fn _error_classes(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
        let classes = PyDict::new(py);
        for kind in ErrorKind::ALL {
            classes.set_item(kind.name(), super::errors::exception_class_name(kind))?;
        }
        Ok(classes)
    }

    #[pymodule_init]
    fn init(module: &Bound<'_, PyModule>) -> PyResult<()> {
        super::logging::install(module.py());
        module.add("__version__", rmq_core::VERSION)?;
        let options = PyDict::new(module.py());
        for option in OPTIONS {
            let doc = format!("{} (default: {})", option.meaning, option.default);
            options.set_item(option.key, doc)?;
        }
        module.add("OPTION_KEYS", options)?;
        Ok(())
    }
}
