//! Deterministic sample logs with their ground truth (being built).
