//! Cross-crate tests for gradwell. The tests themselves live in `tests/tests/`.
