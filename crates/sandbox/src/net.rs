//! The sandbox's network: a namespace of its own with only loopback, and the server's listeners
//! created inside it (the Runtime API at 127.0.0.1:9001, Nimbus's API for the function's SDK),
//! so that runtimes reach those and nothing else.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::sync::{Mutex, PoisonError};

use crate::error::SandboxError;
use crate::sys;

/// Makes a network namespace with loopback up and a listener on `127.0.0.1:<port>` inside it
/// for each of `N` ports. Returns a descriptor of the namespace (for the sandbox to join) and
/// the listeners, non-blocking, in the order of `ports` (for the server to serve). Done on a
/// short-lived thread: namespaces are per thread, and the server's other threads stay where
/// they are.
pub fn loopback_namespace<const N: usize>(ports: [u16; N]) -> Result<Namespace<N>, SandboxError> {
    std::thread::spawn(move || enter_loopback_namespace(ports))
        .join()
        .map_err(|_| SandboxError::Network(std::io::Error::other("namespace thread panicked")))?
}

/// Moves the calling thread into a new network namespace with loopback up and the listeners
/// bound; returns the namespace, the listeners and its counters. The thread stays in it: call
/// it only on a thread of its own.
pub(crate) fn enter_loopback_namespace<const N: usize>(
    ports: [u16; N],
) -> Result<Namespace<N>, SandboxError> {
    (|| -> std::io::Result<Namespace<N>> {
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
        Ok(Namespace {
            fd: ns.into(),
            listeners,
            counters: NetCounters::open_here()?,
            lease: None,
        })
    })()
    .map_err(SandboxError::Network)
}

/// A sandbox's network namespace, made by the server.
#[derive(Debug)]
pub struct Namespace<const N: usize> {
    /// The namespace, for the sandbox to join.
    pub fd: OwnedFd,
    /// The server's listeners inside it, non-blocking, in the order of the ports asked for.
    pub listeners: [TcpListener; N],
    /// Its traffic counters.
    pub counters: NetCounters,
    /// Its address on the egress bridge, if it has egress.
    pub lease: Option<crate::egress::Lease>,
}

/// What an environment's network has carried since its namespace was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetworkUsage {
    /// Bytes the environment sent out of its namespace (every interface but loopback: with
    /// egress, its `eth0`; Runtime API and Nimbus API traffic is on loopback, not counted).
    pub bytes_sent: u64,
    /// Bytes it received from outside its namespace.
    pub bytes_received: u64,
    /// Packets sent out.
    pub packets_sent: u64,
    /// Packets received from outside.
    pub packets_received: u64,
    /// TCP connections it opened, to any address: its runtime's Runtime API connections and
    /// its SDK's to Nimbus's API included (the kernel's `ActiveOpens`).
    pub tcp_connections_opened: u64,
    /// UDP datagrams it sent, to any address (DNS queries included).
    pub udp_datagrams_sent: u64,
}

/// The kernel's counters of one network namespace: `/proc/net/dev` and `/proc/net/snmp` as
/// opened from inside it, so they keep reading that namespace whoever reads them later (no
/// pid involved) for as long as the namespace lives.
#[derive(Debug)]
pub struct NetCounters {
    files: Mutex<(File, File)>,
}

impl NetCounters {
    /// Opens the counters of the calling thread's network namespace.
    fn open_here() -> std::io::Result<Self> {
        Ok(Self {
            files: Mutex::new((
                File::open("/proc/thread-self/net/dev")?,
                File::open("/proc/thread-self/net/snmp")?,
            )),
        })
    }

    /// The figures now; `None` once the namespace is gone or the files do not parse.
    pub fn read(&self) -> Option<NetworkUsage> {
        let mut files = self.files.lock().unwrap_or_else(PoisonError::into_inner);
        let (dev_file, snmp_file) = &mut *files;
        let mut dev = String::new();
        let mut snmp = String::new();
        for (file, text) in [(dev_file, &mut dev), (snmp_file, &mut snmp)] {
            file.seek(SeekFrom::Start(0)).ok()?;
            file.read_to_string(text).ok()?;
        }
        drop(files);
        parse_usage(&dev, &snmp)
    }
}

/// Sums the non-loopback interfaces of a `/proc/net/dev` text and takes TCP `ActiveOpens` and
/// UDP `OutDatagrams` from a `/proc/net/snmp` text.
fn parse_usage(dev: &str, snmp: &str) -> Option<NetworkUsage> {
    let mut u = NetworkUsage::default();
    // Two header lines, then `name: rx_bytes rx_packets (6 more) tx_bytes tx_packets ...`.
    for line in dev.lines().skip(2) {
        let (name, fields) = line.split_once(':')?;
        if name.trim() == "lo" {
            continue;
        }
        let f: Vec<u64> = fields
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .ok()?;
        if f.len() < 10 {
            return None;
        }
        u.bytes_received += f[0];
        u.packets_received += f[1];
        u.bytes_sent += f[8];
        u.packets_sent += f[9];
    }
    // Pairs of lines: `Proto: Name Name ...` then `Proto: value value ...`.
    let lines: Vec<&str> = snmp.lines().collect();
    let field = |proto: &str, name: &str| -> Option<u64> {
        let pair = lines
            .windows(2)
            .find(|w| w[0].starts_with(proto) && w[1].starts_with(proto) && w[0] != w[1])?;
        let names = pair[0].split_whitespace().skip(1);
        let values = pair[1].split_whitespace().skip(1);
        names
            .zip(values)
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| v.parse().ok())
    };
    u.tcp_connections_opened = field("Tcp:", "ActiveOpens")?;
    u.udp_datagrams_sent = field("Udp:", "OutDatagrams")?;
    Some(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:  900000     100    0    0    0     0          0         0   900000     100    0    0    0     0       0          0
  eth0: 1048576     800    0    0    0     0          0         0    20480      90    0    0    0     0       0          0
";
    const SNMP: &str = "Ip: Forwarding DefaultTTL InReceives
Ip: 2 64 900
Icmp: InMsgs InErrors
Icmp: 0 0
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails
Tcp: 1 200 120000 -1 7 3 0
Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors
Udp: 4 0 0 5 0
UdpLite: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors
UdpLite: 0 0 0 0 0
";

    #[test]
    fn usage_counts_what_left_the_namespace_and_the_connections_opened() {
        assert_eq!(
            parse_usage(DEV, SNMP),
            Some(NetworkUsage {
                bytes_sent: 20480,
                bytes_received: 1048576,
                packets_sent: 90,
                packets_received: 800,
                tcp_connections_opened: 7,
                udp_datagrams_sent: 5,
            })
        );
        // Loopback alone (no egress): nothing left the namespace.
        let lo_only: String = DEV.lines().take(3).map(|l| format!("{l}\n")).collect();
        let u = parse_usage(&lo_only, SNMP).expect("parses");
        assert_eq!((u.bytes_sent, u.bytes_received), (0, 0));
        assert_eq!(parse_usage("h\nh\n  eth0: 1 2\n", SNMP), None, "short line");
        assert_eq!(parse_usage(DEV, "Ip: a\nIp: 1\n"), None, "no Tcp line");
    }

    #[test]
    fn counters_follow_their_namespace_not_the_reader() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipped: needs root (network namespaces)");
            return;
        }
        let Namespace {
            fd: ns,
            listeners: [listener],
            counters,
            ..
        } = loopback_namespace([0]).expect("namespace");
        let port = listener.local_addr().expect("addr").port();
        let before = counters.read().expect("read");
        // Connect from inside the namespace (a thread that joins it), twice.
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            crate::sys::setns(ns.as_raw_fd(), libc::CLONE_NEWNET).expect("setns");
            for _ in 0..2 {
                let _c = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
            }
        })
        .join()
        .expect("thread");
        let after = counters.read().expect("read");
        assert_eq!(
            after.tcp_connections_opened - before.tcp_connections_opened,
            2
        );
        // Loopback is not egress.
        assert_eq!((after.bytes_sent, after.bytes_received), (0, 0));
    }
}
