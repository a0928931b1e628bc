//! `Message`: a core message behind Python attributes. Validation (topic, body size, reserved
//! property names, delay level) happens at send time in the core, as for every binding.

use bytes::Bytes;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::{PyBytes, PyDict, PyList, PyMemoryView, PyString};

#[pyclass(module = "rmqproducer", name = "Message")]
pub struct PyMessage {
    inner: rmq_core::Message,
}

impl PyMessage {
    /// An owned copy for a send (the body is shared, not copied).
    pub fn to_core(&self) -> rmq_core::Message {
        self.inner.clone()
    }

    /// A message the library received (a reply, a checked half message).
    pub fn from_core(inner: rmq_core::Message) -> Self {
        PyMessage { inner }
    }

    /// As a Python object, for async deliveries.
    pub fn into_object(py: Python<'_>, message: rmq_core::Message) -> PyResult<Py<PyAny>> {
        Ok(Py::new(py, Self::from_core(message))?.into_any())
    }
}

#[pymethods]
impl PyMessage {
    #[new]
    #[pyo3(signature = (
        topic, body, tags=None, keys=None, properties=None, delay_level=None, deliver_time_ms=None,
        *, flag=0, wait_store_msg_ok=true, send_timeout_ms=None
    ))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        topic: String,
        body: &Bound<'_, PyAny>,
        tags: Option<String>,
        keys: Option<&Bound<'_, PyAny>>,
        properties: Option<&Bound<'_, PyAny>>,
        delay_level: Option<i32>,
        deliver_time_ms: Option<i64>,
        flag: i32,
        wait_store_msg_ok: bool,
        send_timeout_ms: Option<i64>,
    ) -> PyResult<Self> {
        let mut inner = rmq_core::Message::new(topic, body_bytes(body)?);
        inner.tags = tags;
        inner.keys = keys.map(key_list).transpose()?.unwrap_or_default();
        inner.properties = properties
            .map(property_list)
            .transpose()?
            .unwrap_or_default();
        inner.delay_level = delay_level;
        inner.deliver_time_ms = deliver_time_ms;
        inner.flag = flag;
        inner.wait_store_msg_ok = wait_store_msg_ok;
        inner.send_timeout_ms = send_timeout_ms;
        Ok(PyMessage { inner })
    }

    #[getter]
    fn topic(&self) -> &str {
        &self.inner.topic
    }
    #[setter]
    fn set_topic(&mut self, topic: String) {
        self.inner.topic = topic;
    }

    /// The body as bytes (a `str` body was stored UTF-8 encoded).
    #[getter]
    fn body<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.body)
    }
    #[setter]
    fn set_body(&mut self, body: &Bound<'_, PyAny>) -> PyResult<()> {
        self.inner.body = body_bytes(body)?;
        Ok(())
    }

    #[getter]
    fn tags(&self) -> Option<&str> {
        self.inner.tags.as_deref()
    }
    #[setter]
    fn set_tags(&mut self, tags: Option<String>) {
        self.inner.tags = tags;
    }

    /// A copy of the keys; assign a new value to change them.
    #[getter]
    fn keys(&self) -> Vec<String> {
        self.inner.keys.clone()
    }
    #[setter]
    fn set_keys(&mut self, keys: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.inner.keys = keys.map(key_list).transpose()?.unwrap_or_default();
        Ok(())
    }

    /// A copy of the user properties; assign a new mapping to change them.
    #[getter]
    fn properties<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let dict = PyDict::new(py);
        for (name, value) in &self.inner.properties {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }
    #[setter]
    fn set_properties(&mut self, properties: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.inner.properties = properties
            .map(property_list)
            .transpose()?
            .unwrap_or_default();
        Ok(())
    }

    #[getter]
    fn delay_level(&self) -> Option<i32> {
        self.inner.delay_level
    }
    #[setter]
    fn set_delay_level(&mut self, delay_level: Option<i32>) {
        self.inner.delay_level = delay_level;
    }

    #[getter]
    fn deliver_time_ms(&self) -> Option<i64> {
        self.inner.deliver_time_ms
    }
    #[setter]
    fn set_deliver_time_ms(&mut self, deliver_time_ms: Option<i64>) {
        self.inner.deliver_time_ms = deliver_time_ms;
    }

    #[getter]
    fn flag(&self) -> i32 {
        self.inner.flag
    }
    #[setter]
    fn set_flag(&mut self, flag: i32) {
        self.inner.flag = flag;
    }

    #[getter]
    fn wait_store_msg_ok(&self) -> bool {
        self.inner.wait_store_msg_ok
    }
    #[setter]
    fn set_wait_store_msg_ok(&mut self, wait: bool) {
        self.inner.wait_store_msg_ok = wait;
    }

    /// The time budget of each send of this message, retries included, replacing the producer's
    /// `send_timeout_ms`; `None` keeps the producer's.
    #[getter]
    fn send_timeout_ms(&self) -> Option<i64> {
        self.inner.send_timeout_ms
    }
    #[setter]
    fn set_send_timeout_ms(&mut self, send_timeout_ms: Option<i64>) {
        self.inner.send_timeout_ms = send_timeout_ms;
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let m = &self.inner;
        let mut repr = format!(
            "Message(topic={}, body={}",
            PyString::new(py, &m.topic).repr()?,
            body_preview(py, &m.body)?
        );
        if let Some(tags) = &m.tags {
            repr += &format!(", tags={}", PyString::new(py, tags).repr()?);
        }
        if !m.keys.is_empty() {
            repr += &format!(", keys={}", PyList::new(py, &m.keys)?.repr()?);
        }
        if !m.properties.is_empty() {
            repr += &format!(", properties={}", self.properties(py)?.repr()?);
        }
        if let Some(level) = m.delay_level {
            repr += &format!(", delay_level={level}");
        }
        if let Some(time) = m.deliver_time_ms {
            repr += &format!(", deliver_time_ms={time}");
        }
        if let Some(timeout) = m.send_timeout_ms {
            repr += &format!(", send_timeout_ms={timeout}");
        }
        repr.push(')');
        Ok(repr)
    }
}

/// Long bodies are shown by their start and length, so that logging a message stays readable.
fn body_preview(py: Python<'_>, body: &[u8]) -> PyResult<String> {
    const SHOWN: usize = 64;
    let shown = PyBytes::new(py, &body[..body.len().min(SHOWN)]).repr()?;
    Ok(if body.len() > SHOWN {
        format!("{shown}... ({} bytes)", body.len())
    } else {
        shown.to_string()
    })
}

/// The body: a `bytes` object is held, not copied (it cannot change); a `str` is UTF-8 encoded;
/// any other buffer (`bytearray`, `memoryview`, `array`, ...) is copied once, into a `bytes`
/// object held the same way, since its owner may change it after the call.
fn body_bytes(body: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    let held = |bytes: Bound<'_, PyBytes>| Bytes::from_owner(PyBackedBytes::from(bytes));
    if let Ok(bytes) = body.cast::<PyBytes>() {
        Ok(held(bytes.clone()))
    } else if let Ok(text) = body.cast::<PyString>() {
        Ok(Bytes::from(text.to_cow()?.into_owned()))
    } else if let Ok(view) = PyMemoryView::from(body) {
        let copy = body.py().get_type::<PyBytes>().call1((view,))?;
        Ok(held(copy.cast_into::<PyBytes>()?))
    } else {
        Err(PyTypeError::new_err(format!(
            "message body must be bytes, str or a bytes-like object, not {}",
            body.get_type().name()?
        )))
    }
}

/// One key as a `str`, or an iterable of `str` keys.
fn key_list(keys: &Bound<'_, PyAny>) -> PyResult<Vec<String>> {
    if let Ok(key) = keys.cast::<PyString>() {
        return Ok(vec![key.to_cow()?.into_owned()]);
    }
    keys.try_iter()
        .map_err(|_| PyTypeError::new_err("message keys must be a str or an iterable of str"))?
        .map(|key| {
            key?.extract::<String>()
                .map_err(|_| PyTypeError::new_err("every message key must be a str"))
        })
        .collect()
}

/// A mapping of `str` to `str`, in its iteration order.
fn property_list(properties: &Bound<'_, PyAny>) -> PyResult<Vec<(String, String)>> {
    let items = properties
        .call_method0("items")
        .map_err(|_| PyTypeError::new_err("message properties must be a mapping of str to str"))?;
    items
        .try_iter()?
        .map(|item| {
            item?
                .extract::<(String, String)>()
                .map_err(|_| PyTypeError::new_err("message property names and values must be str"))
        })
        .collect()
}
