//! vtsim-macros
