//! vtsim-world
