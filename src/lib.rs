//! vtsim
