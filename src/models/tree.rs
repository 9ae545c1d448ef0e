//! Placeholder: built by the models work in progress.
