//! Python bindings of rmqproducer.
