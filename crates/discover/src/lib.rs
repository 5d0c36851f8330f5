//! vtsim-discover
