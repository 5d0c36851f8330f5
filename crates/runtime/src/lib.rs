//! vtsim-runtime
