//! Requests a server sends to the client (broker → producer: transaction checks, request-reply
//! pushes), dispatched by request code to handlers the client instance registers.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::protocol::command::RemotingCommand;

/// Handles one server request: gets the server's address and the request, returns the response
/// to write back (ignored for oneway requests). Runs on the connection's reader task, so it
/// must not block: long work belongs in a spawned task.
pub type ServerRequestHandler =
    Arc<dyn Fn(&str, RemotingCommand) -> Option<RemotingCommand> + Send + Sync>;

/// The handlers of one transport, shared by all its connections.
#[derive(Clone, Default)]
pub struct ServerHandlers(Arc<RwLock<HashMap<i32, ServerRequestHandler>>>);

impl ServerHandlers {
    /// Sets the handler of request `code`, replacing any earlier one.
    pub fn register(&self, code: i32, handler: ServerRequestHandler) {
        self.0.write().insert(code, handler);
    }

    pub fn get(&self, code: i32) -> Option<ServerRequestHandler> {
        self.0.read().get(&code).cloned()
    }
}
