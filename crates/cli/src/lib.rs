//! vtsim-cli
