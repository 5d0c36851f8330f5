//! vtsim-scenario
