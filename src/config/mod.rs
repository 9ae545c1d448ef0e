//! Configuration: YAML → raw structs → validated `EngineConfig`.
