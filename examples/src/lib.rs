//! Runnable example programs for Paragon (see `examples/`).
