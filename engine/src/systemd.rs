//! Tells systemd how `plexus serve` is doing (`Type=notify` units), with
//! the sd_notify datagram protocol: `READY=1` once every plugin runs and the
//! ingestion API listens, `STOPPING=1` when a stop begins. Without
//! `NOTIFY_SOCKET` in the environment (not started by systemd) nothing is
//! sent. The protocol is one datagram to a unix socket, so no library is
//! needed; the socket may be a path or, with a leading `@`, an abstract
//! name.

use std::os::unix::net::UnixDatagram;

/// The environment variable systemd sets for a `Type=notify` service.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// Sends `state` (e.g. `READY=1`) to systemd, if systemd is listening.
/// Errors are returned for the caller to log; they never stop the daemon.
pub fn notify(state: &str) -> std::io::Result<bool> {
    let Some(target) = std::env::var_os(NOTIFY_SOCKET_ENV) else {
        return Ok(false);
    };
    let socket = UnixDatagram::unbound()?;
    let target = target.to_string_lossy().into_owned();
    match target.strip_prefix('@') {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let address = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
            socket.send_to_addr(state.as_bytes(), &address)?;
        }
        None => {
            socket.send_to(state.as_bytes(), &target)?;
        }
    }
    Ok(true)
}
