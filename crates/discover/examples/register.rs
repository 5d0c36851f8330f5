//! The DiscoverLoop in production: real HTTP, real time, the same code the simulations test.
//!
//! ```text
//! cargo run -p vtsim-discover --example register -- http://127.0.0.1:3000/api db-1 3306 5s
//! ```
//!
//! Logs go to stderr: one Warning when registration starts failing, one Info when it recovers.

use std::sync::Arc;

use vtsim_discover::{OrcClient, OrcConfig, UreqTransport};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [api_url, host, port, interval] = args.as_slice() else {
        eprintln!("usage: register API_URL HOST MYSQL_PORT INTERVAL   (e.g. http://127.0.0.1:3000/api db-1 3306 5s)");
        std::process::exit(2);
    };
    let parsed = (port.parse::<u16>(), vtsim_runtime::parse_duration(interval));
    let (Ok(mysql_port), Ok(interval)) = parsed else {
        eprintln!("register: MYSQL_PORT must be 0..65535 and INTERVAL a duration such as 5s");
        std::process::exit(2);
    };
    let config = OrcConfig {
        api_url: api_url.clone(),
        host: host.clone(),
        mysql_port,
        interval,
        ..OrcConfig::default()
    };
    let timeout = config.timeout;
    let client = OrcClient::new(config, Arc::new(UreqTransport::new(Some(timeout))));
    if let Err(e) = client.discover_loop().await {
        eprintln!("register: {e}");
        std::process::exit(2);
    }
}
