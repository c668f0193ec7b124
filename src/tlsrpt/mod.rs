//! RFC 8460 SMTP TLS reports built from parsed attempts, their discovery and their delivery.
