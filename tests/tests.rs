//! vtsim's integration tests: one binary, one module per concern.

// The same component code under `#[tokio::main]` and inside a simulation.
mod production;
// `#[vtsim::test]` through the facade crate: seeds, pinning, replay lines.
mod seeds;
