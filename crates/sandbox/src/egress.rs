//! Egress for sandboxes whose functions may reach the world (`nat`): a bridge owned by the
//! server, one veth pair per sandbox (its end in the sandbox is `eth0`, with an address of the
//! configured range and a default route to the bridge), masquerade to the host's routes, and
//! a firewall that is safe by default.
//!
//! The firewall (one nftables table of ours, loaded whole at start-up): nothing from a sandbox
//! reaches the host itself (its loopback, the API listener, any local address: the input
//! hook drops what comes in on the bridge), nor another sandbox (bridge ports are isolated, and
//! routed traffic back onto the bridge is dropped; refusals answer at once), nor a denied range (by default: loopback,
//! link-local with the metadata address, the private and shared ranges, multicast and the
//! reserved ones; the operator's list replaces it), nor anything outside the allow list when
//! there is one. Nothing unsolicited reaches a sandbox. Each sandbox may hold a bounded number
//! of connections. IPv6 is not routed for sandboxes.
//!
//! Per sandbox the work is netlink only, done on the short-lived thread that makes the
//! sandbox's namespace, ahead of need (the standby helpers): no program is executed.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{InfoData, InfoVeth};
use rtnetlink::{LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, RouteMessageBuilder};

use crate::error::SandboxError;

/// An IPv4 range, optionally one port of it: `a.b.c.d/n` or `a.b.c.d/n:port`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The network address (host bits zero).
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix: u8,
    /// One TCP/UDP port only, if given.
    pub port: Option<u16>,
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (net, port) = match s.rsplit_once(':') {
            Some((n, p)) => (
                n,
                Some(
                    p.parse::<u16>()
                        .ok()
                        .filter(|p| *p > 0)
                        .ok_or_else(|| format!("'{s}': '{p}' is not a port (1-65535)"))?,
                ),
            ),
            None => (s, None),
        };
        let (addr, prefix) = match net.split_once('/') {
            Some((a, p)) => (
                a,
                p.parse::<u8>()
                    .ok()
                    .filter(|p| *p <= 32)
                    .ok_or_else(|| format!("'{s}': '/{p}' is not a prefix length (0-32)"))?,
            ),
            None => (net, 32),
        };
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("'{s}': '{addr}' is not an IPv4 address"))?;
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(prefix))
        };
        if u32::from(addr) & !mask != 0 {
            return Err(format!(
                "'{s}': host bits are set (the network is {}/{prefix})",
                Ipv4Addr::from(u32::from(addr) & mask)
            ));
        }
        Ok(Self { addr, prefix, port })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        Ok(())
    }
}

impl Cidr {
    /// Whether `ip` is in the range.
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & prefix_mask(self.prefix) == u32::from(self.addr)
    }

    fn size(&self) -> u64 {
        1u64 << (32 - u32::from(self.prefix))
    }
}

/// The ranges denied when the operator names none: everything that is not the public
/// internet (RFC 6890's special-purpose ranges).
pub const DEFAULT_DENY: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
];

/// How the egress network is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressConfig {
    /// The bridge's name (and the prefix of our nftables tables).
    pub bridge: String,
    /// Addresses of sandboxes; the first is the bridge's (their gateway).
    pub subnet: Cidr,
    /// Destinations no sandbox may reach. The sandboxes' own range and the link-local range
    /// (the metadata address) are denied whatever this says.
    pub deny: Vec<Cidr>,
    /// If not empty, the only destinations sandboxes may reach (deny still applies).
    pub allow: Vec<Cidr>,
    /// Most connections one sandbox may have open at once.
    pub max_connections: u32,
    /// Name servers written into sandboxes' `/etc/resolv.conf`.
    pub dns: Vec<Ipv4Addr>,
}

impl EgressConfig {
    /// Checks what a configuration file cannot: a usable subnet and interface name.
    pub fn validate(&self) -> Result<(), String> {
        if self.bridge.is_empty()
            || self.bridge.len() > 12
            || !self
                .bridge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "bridge '{}' must be 1-12 letters, digits, '-' or '_'",
                self.bridge
            ));
        }
        if self.subnet.port.is_some() || !(8..=28).contains(&self.subnet.prefix) {
            return Err(format!(
                "subnet {} must be a range of /8 to /28 without a port",
                self.subnet
            ));
        }
        if self.max_connections == 0 {
            return Err("max_connections must be at least 1".into());
        }
        Ok(())
    }

    fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.subnet.addr) + 1)
    }

    /// The ranges the firewall denies: the operator's (or the default), the sandboxes' own,
    /// and link-local (the metadata address) always.
    fn denied(&self) -> Vec<Cidr> {
        let mut out = self.deny.clone();
        for always in [self.subnet.to_string().as_str(), "169.254.0.0/16"] {
            if let Ok(c) = always.parse::<Cidr>() {
                if !out
                    .iter()
                    .any(|d| d.port.is_none() && d.prefix <= c.prefix && d.contains(c.addr))
                {
                    out.push(c);
                }
            }
        }
        out
    }

    /// The nftables ruleset, loaded whole with `nft -f -` (replacing an older one of ours).
    pub fn ruleset(&self) -> String {
        let b = &self.bridge;
        let table = format!("nimbus_{b}");
        let mut out = String::new();
        // Create-then-delete makes the load succeed whether or not an older table exists.
        for family in ["inet", "ip"] {
            out.push_str(&format!(
                "table {family} {table} {{}}\ndelete table {family} {table}\n"
            ));
        }
        let cidrs = |v: &[Cidr]| {
            v.iter()
                .filter(|c| c.port.is_none())
                .map(|c| format!("{}/{}", c.addr, c.prefix))
                .collect::<Vec<_>>()
        };
        let ports = |v: &[Cidr]| {
            v.iter()
                .filter_map(|c| c.port.map(|p| format!("{}/{} . {p}", c.addr, c.prefix)))
                .collect::<Vec<_>>()
        };
        let denied = self.denied();
        let set = |name: &str, kind: &str, elements: Vec<String>| {
            let body = if elements.is_empty() {
                String::new()
            } else {
                format!(" elements = {{ {} }};", elements.join(", "))
            };
            format!("  set {name} {{ type {kind}; flags interval;{body} }}\n")
        };
        out.push_str(&format!("table inet {table} {{\n"));
        out.push_str(&set("deny", "ipv4_addr", cidrs(&denied)));
        out.push_str(&set(
            "deny_port",
            "ipv4_addr . inet_service",
            ports(&denied),
        ));
        out.push_str(&set("allow", "ipv4_addr", cidrs(&self.allow)));
        out.push_str(&set(
            "allow_port",
            "ipv4_addr . inet_service",
            ports(&self.allow),
        ));
        out.push_str("  set conns { type ipv4_addr; size 65535; flags dynamic; }\n");
        // Refused, not dropped: a function learns at once that it may not, rather than when
        // its connection times out.
        out.push_str("  chain refuse {\n    meta l4proto tcp reject with tcp reset\n    reject with icmpx type admin-prohibited\n  }\n");
        // Sandboxes never reach the host itself; only answers to what the host sent them.
        out.push_str(&format!(
            "  chain input {{\n    type filter hook input priority -10; policy accept;\n    iifname \"{b}\" ct state established,related accept\n    iifname \"{b}\" jump refuse\n  }}\n"
        ));
        let allow_rules = if self.allow.is_empty() {
            String::new()
        } else {
            format!(
                "    iifname \"{b}\" ip daddr @allow accept\n    iifname \"{b}\" meta l4proto {{ tcp, udp }} ip daddr . th dport @allow_port accept\n    iifname \"{b}\" jump refuse\n"
            )
        };
        out.push_str(&format!(
            concat!(
                "  chain forward {{\n",
                "    type filter hook forward priority -10; policy accept;\n",
                "    oifname \"{b}\" ct state established,related accept\n",
                "    oifname \"{b}\" drop\n",
                "    iifname \"{b}\" meta nfproto ipv6 drop\n",
                // Sandboxes cannot forge source addresses (no raw sockets, no CAP_NET_ADMIN);
                // were one to, nothing but the sandboxes' own range would pass.
                "    iifname \"{b}\" ip saddr != {subnet} drop\n",
                "    iifname \"{b}\" ct state established,related accept\n",
                "    iifname \"{b}\" ip daddr @deny jump refuse\n",
                "    iifname \"{b}\" meta l4proto {{ tcp, udp }} ip daddr . th dport @deny_port jump refuse\n",
                "    iifname \"{b}\" ct state new add @conns {{ ip saddr ct count over {max} }} jump refuse\n",
                "{allow}",
                "    iifname \"{b}\" accept\n",
                "  }}\n",
                "}}\n",
            ),
            b = b,
            max = self.max_connections,
            subnet = self.subnet,
            allow = allow_rules,
        ));
        out.push_str(&format!(
            "table ip {table} {{\n  chain postrouting {{\n    type nat hook postrouting priority 100; policy accept;\n    ip saddr {} oifname != \"{b}\" masquerade\n  }}\n}}\n",
            self.subnet
        ));
        out
    }

    /// `/etc/resolv.conf` of a sandbox with egress.
    pub fn resolv_conf(&self) -> String {
        if self.dns.is_empty() {
            return "# no name servers configured (network.dns)\n".into();
        }
        self.dns
            .iter()
            .map(|d| format!("nameserver {d}\n"))
            .collect::<String>()
            + "options timeout:2 attempts:2\n"
    }
}

/// The server's egress network, set up once.
pub struct EgressNetwork {
    config: EgressConfig,
    nft: std::path::PathBuf,
    bridge_index: u32,
    leases: Arc<Mutex<Leases>>,
    /// Held (locked) while the server lives: one server per bridge in a network namespace.
    _claim: std::fs::File,
}

impl fmt::Debug for EgressNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EgressNetwork")
            .field("bridge", &self.config.bridge)
            .field("subnet", &self.config.subnet)
            .finish()
    }
}

/// Addresses in use, handed out round the range so a released one is reused last.
struct Leases {
    in_use: HashSet<u32>,
    next: u32,
}

/// A sandbox's address, free again when dropped (its namespace, and with it its veth pair,
/// gone).
pub struct Lease {
    /// The sandbox's address.
    pub addr: Ipv4Addr,
    index: u32,
    leases: Arc<Mutex<Leases>>,
}

impl fmt::Debug for Lease {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Lease({})", self.addr)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.leases
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .in_use
            .remove(&self.index);
    }
}

fn net_err(what: &str, e: impl fmt::Display) -> SandboxError {
    SandboxError::Network(std::io::Error::other(format!("{what}: {e}")))
}

/// Runs `f` to its end on a thread of its own with a runtime of its own, for netlink
/// requests (they are asynchronous): the caller's thread may be one of the server's runtime,
/// which cannot block on another, and namespace work must not move the caller's thread.
fn on_own_thread<T: Send + 'static>(
    f: impl FnOnce() -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<T, SandboxError>>>>
        + Send
        + 'static,
) -> Result<T, SandboxError> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
            .map_err(SandboxError::Network)?
            .block_on(f())
    })
    .join()
    .map_err(|_| net_err("netlink thread", "panicked"))?
}

async fn index_of(h: &rtnetlink::Handle, name: &str) -> Result<u32, SandboxError> {
    let mut links = h.link().get().match_name(name.to_string()).execute();
    match links.try_next().await {
        Ok(Some(l)) => Ok(l.header.index),
        Ok(None) => Err(net_err("find link", name)),
        Err(e) => Err(net_err(&format!("find link {name}"), e)),
    }
}

/// Where servers claim their bridges: one lock file per network namespace and bridge name.
const CLAIMS_DIR: &str = "/run/nimbus";

/// Locks `bridge` for this server in the current network namespace, or says who has it.
fn claim_bridge(bridge: &str) -> Result<std::fs::File, SandboxError> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
    let netns = std::fs::metadata("/proc/thread-self/ns/net")
        .map_err(|e| net_err("find the network namespace", e))?
        .ino();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(CLAIMS_DIR)
        .map_err(|e| net_err(&format!("create {CLAIMS_DIR}"), e))?;
    let path = format!("{CLAIMS_DIR}/egress-{netns}-{bridge}.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| net_err(&format!("open {path}"), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(net_err(
            "network.bridge",
            format!(
                "bridge {bridge} belongs to another Nimbus server on this machine: give each server its own network.bridge and network.subnet"
            ),
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(net_err(&format!("lock {path}"), e)),
    }
}

/// Fails if an address of any interface lies in `subnet` (another server's bridge, a VPN,
/// the host's own network): sandboxes there would be unreachable or reach what they must not.
async fn check_range_is_free(h: &rtnetlink::Handle, subnet: Cidr) -> Result<(), SandboxError> {
    use rtnetlink::packet_route::address::AddressAttribute;
    let mut addrs = h.address().get().execute();
    while let Some(a) = addrs
        .try_next()
        .await
        .map_err(|e| net_err("list addresses", e))?
    {
        for attr in &a.attributes {
            if let AddressAttribute::Address(std::net::IpAddr::V4(ip)) = attr {
                let theirs = Cidr {
                    addr: Ipv4Addr::from(u32::from(*ip) & prefix_mask(a.header.prefix_len)),
                    prefix: a.header.prefix_len,
                    port: None,
                };
                if subnet.contains(*ip) || theirs.contains(subnet.addr) {
                    return Err(net_err(
                        "network.subnet",
                        format!(
                            "{subnet} overlaps {ip}/{} of interface {}: choose a range no interface uses",
                            a.header.prefix_len, a.header.index
                        ),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A random unicast address, locally administered (no vendor's), for the bridge.
fn bridge_mac() -> Vec<u8> {
    let mut mac: [u8; 6] = rand::random();
    mac[0] = (mac[0] & 0xfe) | 0x02;
    mac.to_vec()
}

fn prefix_mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix.min(32)))
    }
}

impl EgressNetwork {
    /// Makes the bridge (replacing one a crash left), turns on IPv4 forwarding, and loads the
    /// firewall with `nft` (the one program run, once, at start-up).
    ///
    /// Refuses, naming the setting to change, a bridge that another live server of this network
    /// namespace holds and a range that an address of another interface is in.
    pub fn setup(config: EgressConfig, nft: &std::path::Path) -> Result<Self, SandboxError> {
        config.validate().map_err(|e| net_err("network", e))?;
        let claim = claim_bridge(&config.bridge)?;
        let (bridge, gateway, prefix, subnet) = (
            config.bridge.clone(),
            config.gateway(),
            config.subnet.prefix,
            config.subnet,
        );
        let bridge_index = on_own_thread(move || {
            Box::pin(async move {
                let (conn, h, _) = rtnetlink::new_connection().map_err(SandboxError::Network)?;
                tokio::spawn(conn);
                // Unclaimed, so a crash left it: ours to replace.
                if let Ok(old) = index_of(&h, &bridge).await {
                    h.link()
                        .del(old)
                        .execute()
                        .await
                        .map_err(|e| net_err("remove the old bridge", e))?;
                }
                check_range_is_free(&h, subnet).await?;
                // A bridge whose address is not set follows the lowest address of its ports,
                // so it changes whenever an environment comes or goes; sandboxes that resolved
                // the gateway to a departed port's address then lose every connection until
                // their neighbour entry expires. Set, it never changes.
                h.link()
                    .add(LinkBridge::new(&bridge).address(bridge_mac()).build())
                    .execute()
                    .await
                    .map_err(|e| net_err(&format!("create bridge {bridge}"), e))?;
                let index = index_of(&h, &bridge).await?;
                h.address()
                    .add(index, gateway.into(), prefix)
                    .execute()
                    .await
                    .map_err(|e| net_err("address the bridge", e))?;
                Ok::<u32, SandboxError>(index)
            })
        })?;
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
            .map_err(|e| net_err("turn on IPv4 forwarding", e))?;
        load_ruleset(nft, &config.ruleset())?;
        Ok(Self {
            config,
            nft: nft.to_path_buf(),
            bridge_index,
            leases: Arc::new(Mutex::new(Leases {
                in_use: HashSet::new(),
                next: 2,
            })),
            _claim: claim,
        })
    }

    /// The configuration it was made with.
    pub fn config(&self) -> &EgressConfig {
        &self.config
    }

    /// Removes the bridge and our tables (server shutdown). Sandboxes still alive lose egress.
    pub fn teardown(&self) {
        let table = format!("nimbus_{}", self.config.bridge);
        let _ = load_ruleset(
            &self.nft,
            &format!(
                "table inet {table} {{}}\ndelete table inet {table}\ntable ip {table} {{}}\ndelete table ip {table}\n"
            ),
        );
        let index = self.bridge_index;
        let _ = on_own_thread(move || {
            Box::pin(async move {
                let (conn, h, _) = rtnetlink::new_connection().map_err(SandboxError::Network)?;
                tokio::spawn(conn);
                h.link()
                    .del(index)
                    .execute()
                    .await
                    .map_err(|e| net_err("remove the bridge", e))
            })
        });
    }

    fn lease(&self) -> Result<Lease, SandboxError> {
        let size = u32::try_from(self.config.subnet.size()).unwrap_or(u32::MAX);
        let mut l = self.leases.lock().unwrap_or_else(PoisonError::into_inner);
        // Host numbers 2..size-1: 0 is the network, 1 the bridge, the last broadcast.
        for _ in 0..size {
            let i = l.next;
            l.next = if l.next + 1 >= size - 1 {
                2
            } else {
                l.next + 1
            };
            if l.in_use.insert(i) {
                return Ok(Lease {
                    addr: Ipv4Addr::from(u32::from(self.config.subnet.addr) + i),
                    index: i,
                    leases: Arc::clone(&self.leases),
                });
            }
        }
        Err(net_err(
            "lease",
            format!("every address of {} is in use", self.config.subnet),
        ))
    }

    /// Makes a network namespace like [`crate::net::loopback_namespace`] does, and connects it
    /// to the bridge: `eth0` with a leased address and a default route through the bridge.
    pub fn namespace<const N: usize>(
        &self,
        ports: [u16; N],
    ) -> Result<crate::net::Namespace<N>, SandboxError> {
        let lease = self.lease()?;
        let addr = lease.addr;
        let gateway = self.config.gateway();
        let prefix = self.config.subnet.prefix;
        let bridge = self.bridge_index;
        let host_end = format!("nb{:08x}", u32::from(addr));
        let mut made = on_own_thread(move || {
            Box::pin(async move {
                // A socket made before unsharing stays in the host's namespace.
                let (conn, host, _) = rtnetlink::new_connection().map_err(SandboxError::Network)?;
                tokio::spawn(conn);
                let made = crate::net::enter_loopback_namespace(ports)?;
                let ns = &made.fd;
                let (conn, inside, _) =
                    rtnetlink::new_connection().map_err(SandboxError::Network)?;
                tokio::spawn(conn);
                // The pair, its sandbox end created in the sandbox's namespace as eth0.
                let peer = LinkUnspec::new_with_name("eth0")
                    .setns_by_fd(ns.as_raw_fd())
                    .build();
                let veth = LinkMessageBuilder::<LinkUnspec>::new_with_info_kind(
                    rtnetlink::packet_route::link::InfoKind::Veth,
                )
                .name(host_end.clone())
                .set_info_data(InfoData::Veth(InfoVeth::Peer(peer)))
                .controller(bridge)
                .up()
                .build();
                host.link()
                    .add(veth)
                    .execute()
                    .await
                    .map_err(|e| net_err("create the veth pair", e))?;
                let host_index = index_of(&host, &host_end).await?;
                // Isolated ports reach the bridge (the gateway), never each other.
                host.link()
                    .set_port(LinkBridgePort::new(host_index).isolated(true).build())
                    .execute()
                    .await
                    .map_err(|e| net_err("isolate the bridge port", e))?;
                let eth0 = index_of(&inside, "eth0").await?;
                inside
                    .link()
                    .set(LinkUnspec::new_with_index(eth0).up().build())
                    .execute()
                    .await
                    .map_err(|e| net_err("bring eth0 up", e))?;
                inside
                    .address()
                    .add(eth0, addr.into(), prefix)
                    .execute()
                    .await
                    .map_err(|e| net_err("address eth0", e))?;
                inside
                    .route()
                    .add(
                        RouteMessageBuilder::<Ipv4Addr>::new()
                            .gateway(gateway)
                            .build(),
                    )
                    .execute()
                    .await
                    .map_err(|e| net_err("route through the bridge", e))?;
                Ok(made)
            })
        })?;
        made.lease = Some(lease);
        Ok(made)
    }
}

/// Loads `ruleset` atomically with `nft -f -`.
fn load_ruleset(nft: &std::path::Path, ruleset: &str) -> Result<(), SandboxError> {
    use std::io::Write;
    let mut child = std::process::Command::new(nft)
        .args(["-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| net_err(&format!("run {} (install nftables)", nft.display()), e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(ruleset.as_bytes())
            .map_err(|e| net_err("write the ruleset", e))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| net_err("wait for nft", e))?;
    if !out.status.success() {
        return Err(net_err(
            "load the firewall",
            String::from_utf8_lossy(&out.stderr).trim(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidr(s: &str) -> Cidr {
        s.parse().expect("cidr")
    }

    #[test]
    fn ranges_parse_with_ports_and_refuse_nonsense() {
        assert_eq!(
            cidr("10.0.0.0/8"),
            Cidr {
                addr: Ipv4Addr::new(10, 0, 0, 0),
                prefix: 8,
                port: None
            }
        );
        assert_eq!(cidr("1.2.3.4").prefix, 32);
        assert_eq!(cidr("192.168.0.0/16:5432").port, Some(5432));
        assert_eq!(
            cidr("192.168.0.0/16:5432").to_string(),
            "192.168.0.0/16:5432"
        );
        for bad in [
            "10.0.0.1/8",
            "10.0.0.0/33",
            "10.0.0/8",
            "1.2.3.4:0",
            "1.2.3.4:x",
            "::1/128",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        assert!(cidr("10.0.0.0/8").contains(Ipv4Addr::new(10, 200, 1, 2)));
        assert!(!cidr("10.0.0.0/8").contains(Ipv4Addr::new(11, 0, 0, 0)));
        assert!(cidr("0.0.0.0/0").contains(Ipv4Addr::new(8, 8, 8, 8)));
        for d in DEFAULT_DENY {
            cidr(d);
        }
    }

    fn config() -> EgressConfig {
        EgressConfig {
            bridge: "nimbus0".into(),
            subnet: cidr("10.213.0.0/16"),
            deny: vec![cidr("192.0.2.0/24"), cidr("198.51.100.7/32:22")],
            allow: vec![],
            max_connections: 64,
            dns: vec![Ipv4Addr::new(198, 51, 100, 53)],
        }
    }

    #[test]
    fn the_ruleset_denies_the_host_the_sandboxes_and_the_metadata_address() {
        let r = config().ruleset();
        assert!(r.starts_with("table inet nimbus_nimbus0 {}\ndelete table inet nimbus_nimbus0\n"));
        assert!(
            r.contains("iifname \"nimbus0\" jump refuse\n  }\n  chain forward"),
            "input refuses the rest: {r}"
        );
        assert!(
            r.contains("oifname \"nimbus0\" drop"),
            "nothing unsolicited in: {r}"
        );
        assert!(
            r.contains("elements = { 192.0.2.0/24, 10.213.0.0/16, 169.254.0.0/16 }"),
            "{r}"
        );
        assert!(r.contains("elements = { 198.51.100.7/32 . 22 }"), "{r}");
        assert!(r.contains("ct count over 64"), "{r}");
        assert!(
            r.contains("iifname \"nimbus0\" ip saddr != 10.213.0.0/16 drop"),
            "{r}"
        );
        assert!(r.contains("ip saddr 10.213.0.0/16 oifname != \"nimbus0\" masquerade"));
        // No allow list: no allow-only rule.
        assert!(!r.contains("@allow accept"));
        let mut c = config();
        c.allow = vec![cidr("198.51.100.0/24"), cidr("203.0.113.5/32:443")];
        let r = c.ruleset();
        assert!(r.contains("ip daddr @allow accept"));
        assert!(r.contains("elements = { 203.0.113.5/32 . 443 }"));
        // The default deny list already covers link-local: not listed twice.
        let mut c = config();
        c.deny = DEFAULT_DENY.iter().map(|d| cidr(d)).collect();
        let r = c.ruleset();
        assert_eq!(r.matches("169.254.0.0/16").count(), 1, "{r}");
        // Inside 10/8 already: not in the deny set again, only in the source check and the
        // NAT rule.
        assert_eq!(r.matches("10.213.0.0/16").count(), 2, "{r}");
    }

    #[test]
    fn configurations_are_checked() {
        assert!(config().validate().is_ok());
        let mut c = config();
        c.bridge = "a-bridge-name-too-long".into();
        assert!(c.validate().is_err());
        let mut c = config();
        c.subnet = cidr("10.0.0.0/30");
        assert!(c.validate().is_err());
        let mut c = config();
        c.max_connections = 0;
        assert!(c.validate().is_err());
        assert_eq!(
            config().resolv_conf(),
            "nameserver 198.51.100.53\noptions timeout:2 attempts:2\n"
        );
    }
}
