//! vtsim-bench
