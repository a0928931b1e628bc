//! C ABI of rmqproducer.
