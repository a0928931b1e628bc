//! `SendResult`, `SendStatus` and `MessageQueue`: read-only views of what the broker answered
//! (a `MessageQueue` can also be built, to send to exactly that queue).

use pyo3::prelude::*;
use pyo3::types::PyString;

/// The broker's verdict on a stored message (`SEND_OK` unless a flush or a slave lagged).
#[pyclass(module = "rmqproducer", name = "SendStatus", eq, eq_int, frozen, hash)]
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum PySendStatus {
    #[pyo3(name = "SEND_OK")]
    SendOk,
    #[pyo3(name = "FLUSH_DISK_TIMEOUT")]
    FlushDiskTimeout,
    #[pyo3(name = "FLUSH_SLAVE_TIMEOUT")]
    FlushSlaveTimeout,
    #[pyo3(name = "SLAVE_NOT_AVAILABLE")]
    SlaveNotAvailable,
}

impl From<rmq_core::SendStatus> for PySendStatus {
    fn from(status: rmq_core::SendStatus) -> Self {
        match status {
            rmq_core::SendStatus::SendOk => PySendStatus::SendOk,
            rmq_core::SendStatus::FlushDiskTimeout => PySendStatus::FlushDiskTimeout,
            rmq_core::SendStatus::FlushSlaveTimeout => PySendStatus::FlushSlaveTimeout,
            rmq_core::SendStatus::SlaveNotAvailable => PySendStatus::SlaveNotAvailable,
        }
    }
}

#[pyclass(module = "rmqproducer", name = "MessageQueue", eq, frozen, hash)]
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PyMessageQueue {
    #[pyo3(get)]
    topic: String,
    #[pyo3(get)]
    broker_name: String,
    #[pyo3(get)]
    queue_id: i32,
}

impl PyMessageQueue {
    pub fn from_core(queue: rmq_core::MessageQueue) -> Self {
        PyMessageQueue {
            topic: queue.topic,
            broker_name: queue.broker_name,
            queue_id: queue.queue_id,
        }
    }

    pub fn to_core(&self) -> rmq_core::MessageQueue {
        rmq_core::MessageQueue {
            topic: self.topic.clone(),
            broker_name: self.broker_name.clone(),
            queue_id: self.queue_id,
        }
    }
}

#[pymethods]
impl PyMessageQueue {
    /// A queue of `topic` on the broker named `broker_name`; `Producer.publish_queues` lists
    /// the writable ones.
    #[new]
    fn new(topic: String, broker_name: String, queue_id: i32) -> Self {
        PyMessageQueue {
            topic,
            broker_name,
            queue_id,
        }
    }

    pub fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        Ok(format!(
            "MessageQueue(topic={}, broker_name={}, queue_id={})",
            PyString::new(py, &self.topic).repr()?,
            PyString::new(py, &self.broker_name).repr()?,
            self.queue_id
        ))
    }
}

#[pyclass(module = "rmqproducer", name = "SendResult", frozen)]
pub struct PySendResult {
    status: rmq_core::SendStatus,
    /// The client-generated unique id (UNIQ_KEY), the id to look a message up by.
    #[pyo3(get)]
    msg_id: String,
    /// The broker's id: store host and commit log offset.
    #[pyo3(get)]
    offset_msg_id: String,
    #[pyo3(get)]
    queue: Py<PyMessageQueue>,
    #[pyo3(get)]
    queue_offset: i64,
    #[pyo3(get)]
    transaction_id: Option<String>,
    #[pyo3(get)]
    region_id: String,
    #[pyo3(get)]
    trace_on: bool,
    /// What `Producer.recall` takes to cancel this timer message before it is due.
    #[pyo3(get)]
    recall_handle: Option<String>,
}

impl PySendResult {
    pub fn new(py: Python<'_>, result: rmq_core::SendResult) -> PyResult<Self> {
        let queue = PyMessageQueue::from_core(result.queue);
        Ok(PySendResult {
            status: result.status,
            msg_id: result.msg_id,
            offset_msg_id: result.offset_msg_id,
            queue: Py::new(py, queue)?,
            queue_offset: result.queue_offset,
            transaction_id: result.transaction_id,
            region_id: result.region_id,
            trace_on: result.trace_on,
            recall_handle: result.recall_handle,
        })
    }

    /// As a Python object, for async deliveries.
    pub fn into_object(py: Python<'_>, result: rmq_core::SendResult) -> PyResult<Py<PyAny>> {
        Ok(Py::new(py, Self::new(py, result)?)?.into_any())
    }
}

#[pymethods]
impl PySendResult {
    #[getter]
    fn status(&self) -> PySendStatus {
        self.status.into()
    }

    /// The UNIQ_KEY of each message: one for a single message, one per message of a batch,
    /// in the batch's order (`msg_id` joins them with ',').
    #[getter]
    fn msg_ids(&self) -> Vec<&str> {
        self.msg_id.split(',').collect()
    }

    /// The broker's id of each message, as `msg_ids`.
    #[getter]
    fn offset_msg_ids(&self) -> Vec<&str> {
        self.offset_msg_id.split(',').collect()
    }

    /// Whether the status is `SEND_OK`.
    #[getter]
    fn ok(&self) -> bool {
        self.status == rmq_core::SendStatus::SendOk
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let text = |s: &str| -> PyResult<String> { Ok(PyString::new(py, s).repr()?.to_string()) };
        Ok(format!(
            "SendResult(status={}, msg_id={}, offset_msg_id={}, queue={}, queue_offset={}, \
             transaction_id={}, region_id={}, trace_on={})",
            self.status.name(),
            text(&self.msg_id)?,
            text(&self.offset_msg_id)?,
            self.queue.get().__repr__(py)?,
            self.queue_offset,
            match &self.transaction_id {
                Some(id) => text(id)?,
                None => "None".to_string(),
            },
            text(&self.region_id)?,
            if self.trace_on { "True" } else { "False" },
        ))
    }
}
