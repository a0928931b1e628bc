//! Node.js bindings of rmqproducer.
