//! The sandbox's network: a namespace of its own with only loopback, and the server's listeners
//! created inside it (the Runtime API at 127.0.0.1:9001, Nimbus's API for the function's SDK),
//! so that runtimes reach those and nothing else.

use std::fs::File;
use std::net::TcpListener;
use std::os::fd::OwnedFd;

use crate::error::SandboxError;
use crate::sys;

/// Makes a network namespace with loopback up and a listener on `127.0.0.1:<port>` inside it
/// for each of `N` ports. Returns a descriptor of the namespace (for the sandbox to join) and
/// the listeners, non-blocking, in the order of `ports` (for the server to serve). Done on a
/// short-lived thread: namespaces are per thread, and the server's other threads stay where
/// they are.
pub fn loopback_namespace<const N: usize>(
    ports: [u16; N],
) -> Result<(OwnedFd, [TcpListener; N]), SandboxError> {
    std::thread::spawn(move || enter_loopback_namespace(ports))
        .join()
        .map_err(|_| SandboxError::Network(std::io::Error::other("namespace thread panicked")))?
}

/// Moves the calling thread into a new network namespace with loopback up and the listeners
/// bound; returns the namespace and the listeners. The thread stays in it: call it only on a
/// thread of its own.
pub(crate) fn enter_loopback_namespace<const N: usize>(
    ports: [u16; N],
) -> Result<(OwnedFd, [TcpListener; N]), SandboxError> {
    (|| -> std::io::Result<(OwnedFd, [TcpListener; N])> {
        sys::unshare(libc::CLONE_NEWNET)?;
        sys::loopback_up()?;
        let mut listeners = Vec::with_capacity(N);
        for port in ports {
            let listener = TcpListener::bind(("127.0.0.1", port))?;
            listener.set_nonblocking(true)?;
            listeners.push(listener);
        }
        let listeners: [TcpListener; N] = listeners
            .try_into()
            .map_err(|_| std::io::Error::other("listener count"))?;
        let ns = File::open("/proc/thread-self/ns/net")?;
        Ok((ns.into(), listeners))
    })()
    .map_err(SandboxError::Network)
}
