//! Paper broker accounting (SPEC §16).
