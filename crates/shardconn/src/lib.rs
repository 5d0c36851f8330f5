//! vtsim-shardconn
