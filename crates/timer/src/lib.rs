//! vtsim-timer
