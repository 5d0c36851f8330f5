//! vtsim's integration tests: one binary, one module per concern.

// The same component code under `#[tokio::main]` and inside a simulation.
mod production;
// `#[vtsim::test]` through the facade crate: seeds, pinning, replay lines.
mod seeds;
// The complete examples in docs/scenarios.md pass, seed after seed.
mod docs;
// Determinism rules that clippy.toml cannot express, checked over the source.
mod rules;
// Golden trace hashes of the whole stack: the mapping from seed to trace stays put.
mod golden;
