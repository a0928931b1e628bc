//! The one error type of the library. `ErrorKind` is closed: every binding maps it one to one
//! (C result codes, Python exception classes, JS `err.code`), so adding a kind is an ABI change.

use std::fmt;

/// What went wrong, as a closed set. The numeric values are the C API's result codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i32)]
pub enum ErrorKind {
    /// A bad argument at an API surface: a NULL pointer, bad UTF-8, an unknown or malformed option.
    InvalidArgument = 1,
    /// The message fails validation before any network traffic (properties, delay); the
    /// topic and body have kinds of their own below.
    InvalidMessage = 2,
    /// The call does not fit the producer's state: not started, already started, shut down.
    IllegalState = 3,
    /// Another producer of the same group is already registered in this client instance.
    GroupAlreadyExists = 4,
    /// No name server address is configured.
    NoNameServer = 5,
    /// No route for the topic, neither its own nor through the TBW102 fallback.
    NoRoute = 6,
    /// A TCP connection could not be established.
    Connect = 7,
    /// The request's deadline passed before a response arrived.
    Timeout = 8,
    /// The connection failed or closed while the request was in flight.
    Network = 9,
    /// The broker or name server answered with an error response code (see `response_code`).
    Broker = 10,
    /// Too many requests in flight (connection bound or async backpressure).
    TooManyRequests = 11,
    /// The producer shut down before the send completed.
    Shutdown = 12,
    /// A peer sent bytes that do not decode as the remoting protocol.
    Protocol = 13,
    /// A bug inside the library (a caught panic); please report it.
    Internal = 14,
    /// The topic name is blank, too long, or has characters outside `[%|a-zA-Z0-9_-]`.
    InvalidTopic = 15,
    /// The topic is a system topic that producers may not send to.
    ReservedTopic = 16,
    /// The message body is empty.
    EmptyBody = 17,
    /// The message is larger than `max_message_size`.
    MessageTooLarge = 18,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 18] = [
        ErrorKind::InvalidArgument,
        ErrorKind::InvalidMessage,
        ErrorKind::IllegalState,
        ErrorKind::GroupAlreadyExists,
        ErrorKind::NoNameServer,
        ErrorKind::NoRoute,
        ErrorKind::Connect,
        ErrorKind::Timeout,
        ErrorKind::Network,
        ErrorKind::Broker,
        ErrorKind::TooManyRequests,
        ErrorKind::Shutdown,
        ErrorKind::Protocol,
        ErrorKind::Internal,
        ErrorKind::InvalidTopic,
        ErrorKind::ReservedTopic,
        ErrorKind::EmptyBody,
        ErrorKind::MessageTooLarge,
    ];

    /// A stable, upper-case name (used as JS `err.code` and in C's `rmq_result_name`).
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::InvalidArgument => "INVALID_ARGUMENT",
            ErrorKind::InvalidMessage => "INVALID_MESSAGE",
            ErrorKind::IllegalState => "ILLEGAL_STATE",
            ErrorKind::GroupAlreadyExists => "GROUP_ALREADY_EXISTS",
            ErrorKind::NoNameServer => "NO_NAME_SERVER",
            ErrorKind::NoRoute => "NO_ROUTE",
            ErrorKind::Connect => "CONNECT",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::Network => "NETWORK",
            ErrorKind::Broker => "BROKER",
            ErrorKind::TooManyRequests => "TOO_MANY_REQUESTS",
            ErrorKind::Shutdown => "SHUTDOWN",
            ErrorKind::Protocol => "PROTOCOL",
            ErrorKind::Internal => "INTERNAL",
            ErrorKind::InvalidTopic => "INVALID_TOPIC",
            ErrorKind::ReservedTopic => "RESERVED_TOPIC",
            ErrorKind::EmptyBody => "EMPTY_BODY",
            ErrorKind::MessageTooLarge => "MESSAGE_TOO_LARGE",
        }
    }

    /// The C result code of this kind (0 is success and has no kind).
    pub fn code(self) -> i32 {
        self as i32
    }

    /// Whether a send that failed with this kind may succeed if tried again later.
    pub fn is_retriable(self) -> bool {
        matches!(
            self,
            ErrorKind::NoRoute
                | ErrorKind::Connect
                | ErrorKind::Timeout
                | ErrorKind::Network
                | ErrorKind::Broker
                | ErrorKind::TooManyRequests
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error with its kind, a human message, and what the broker said when it said something.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    response_code: Option<i32>,
    remark: Option<String>,
    broker_addr: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            response_code: None,
            remark: None,
            broker_addr: None,
        }
    }

    /// An error response from a broker or name server at `addr`.
    pub fn broker(code: i32, remark: Option<String>, addr: impl Into<String>) -> Self {
        let addr = addr.into();
        let message = format!(
            "{addr} answered code {code}: {}",
            remark.as_deref().unwrap_or("(no remark)")
        );
        Error {
            kind: ErrorKind::Broker,
            message,
            response_code: Some(code),
            remark,
            broker_addr: Some(addr),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    pub fn message(&self) -> &str {
        &self.message
    }
    /// The broker's response code, when the failure is a broker's answer.
    pub fn response_code(&self) -> Option<i32> {
        self.response_code
    }
    /// The broker's remark, when it gave one.
    pub fn remark(&self) -> Option<&str> {
        self.remark.as_deref()
    }
    /// The address of the server involved, when known.
    pub fn broker_addr(&self) -> Option<&str> {
        self.broker_addr.as_deref()
    }

    pub fn with_addr(mut self, addr: impl Into<String>) -> Self {
        self.broker_addr = Some(addr.into());
        self
    }

    /// Prefix the message with what the caller was doing, keeping kind and broker details.
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }

    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidArgument, message)
    }
    pub fn invalid_message(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidMessage, message)
    }
    pub fn illegal_state(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::IllegalState, message)
    }
    pub fn protocol(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Protocol, message)
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_names_stable() {
        let mut codes: Vec<i32> = ErrorKind::ALL.iter().map(|k| k.code()).collect();
        codes.dedup();
        assert_eq!(codes, (1..=18).collect::<Vec<_>>());
        assert_eq!(ErrorKind::Broker.name(), "BROKER");
    }

    #[test]
    fn broker_error_keeps_code_and_remark() {
        let e = Error::broker(17, Some("topic not exist".into()), "127.0.0.1:10911");
        assert_eq!(e.kind(), ErrorKind::Broker);
        assert_eq!(e.response_code(), Some(17));
        assert_eq!(e.remark(), Some("topic not exist"));
        assert!(e.to_string().contains("topic not exist"));
    }
}
