//! The sandbox's network: a namespace of its own with only loopback, and the Runtime API
//! listener created inside it, so that runtimes reach the API at 127.0.0.1:9001 and nothing else.

use std::fs::File;
use std::net::TcpListener;
use std::os::fd::OwnedFd;

use crate::error::SandboxError;
use crate::sys;

/// Makes a network namespace with loopback up and a listener on `127.0.0.1:port` inside it.
/// Returns a descriptor of the namespace (for the sandbox to join) and the listener (for the
/// server to serve). Done on a short-lived thread: namespaces are per thread, and the server's
/// other threads stay where they are.
pub fn loopback_namespace(port: u16) -> Result<(OwnedFd, TcpListener), SandboxError> {
    std::thread::spawn(move || -> std::io::Result<(OwnedFd, TcpListener)> {
        sys::unshare(libc::CLONE_NEWNET)?;
        sys::loopback_up()?;
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        listener.set_nonblocking(true)?;
        let ns = File::open("/proc/thread-self/ns/net")?;
        Ok((ns.into(), listener))
    })
    .join()
    .map_err(|_| SandboxError::Network(std::io::Error::other("namespace thread panicked")))?
    .map_err(SandboxError::Network)
}
