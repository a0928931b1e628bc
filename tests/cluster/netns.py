"""Network namespaces for `rmq-cluster up --netns`: each server of a port base runs in a namespace of
its own, joined to the root namespace by a veth pair whose root end is a port of a bridge, so the
test process (root namespace) and the servers reach each other at private addresses. `partition`
sets a server's root end down: its packets vanish and open TCP connections stay half-open (no RST,
no FIN), as when a network drops a host. Needs root (CAP_NET_ADMIN) and iproute2's `ip`.

Everything made here is named after the port base (namespaces `rmq<base>-<server>`, links
`rmq<base>-<short>`, bridge `rmq<base>-br`, subnet 10.<base/256>.<base%256>.0/24), so two bases never
collide and only what a run of this base made is ever touched or removed.
"""

import os
import shutil
import subprocess

# Host part of each server's address; the bridge (the root namespace's side) is .1.
HOSTS = {"namesrv": 10, "broker-a": 11, "broker-b": 12, "broker-a-s": 13, "broker-b-s": 14,
         "broker-a-0": 15, "broker-a-1": 16, "broker-a-2": 17}
# Interface names are limited to 15 characters: rmq65283-as is 11.
SHORT = {"namesrv": "n", "broker-a": "a", "broker-b": "b", "broker-a-s": "as", "broker-b-s": "bs",
         "broker-a-0": "a0", "broker-a-1": "a1", "broker-a-2": "a2"}


class NetnsError(Exception):
    """Namespaces cannot be made or changed here; the message says why, in one line."""


def unavailable_reason():
    """Why namespaces cannot be made on this machine, or None when they can (best effort: the
    creation itself still reports what this check cannot see)."""
    if shutil.which("ip") is None:
        return "`ip` (iproute2) not found on PATH"
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        return "not running as root (ip netns and veth pairs need CAP_NET_ADMIN)"
    return None


class Network:
    """The namespaces, veth pairs and bridge of one port base."""

    def __init__(self, base):
        self.base = int(base)
        self.prefix = f"rmq{self.base}-"
        self.subnet = f"10.{(self.base >> 8) & 0xFF}.{self.base & 0xFF}"
        self.bridge = f"{self.prefix}br"

    @property
    def gateway(self):
        return f"{self.subnet}.1"

    def namespace(self, name):
        return f"{self.prefix}{name}"

    def root_link(self, name):
        return f"{self.prefix}{SHORT[name]}"

    def address(self, name):
        return f"{self.subnet}.{HOSTS[name]}"

    def exec_prefix(self, name):
        """Runs a command inside the server's namespace (`ip netns exec` execs it: the pid stays)."""
        return ["ip", "netns", "exec", self.namespace(name)]

    # -- making and removing -------------------------------------------------------------------

    def create(self, names):
        """A bridge with the gateway address, and per server a namespace with lo up and a veth pair
        (its address inside, the other end on the bridge). Leftovers of an earlier run of this base
        are removed first; on failure everything made is removed and NetnsError says why."""
        reason = unavailable_reason()
        if reason:
            raise NetnsError(reason)
        self.remove_all()
        # Only addresses this run makes may be targets: a subnet the machine already routes
        # (its own network) is left alone.
        routed = _ip("-4", "route", "show", f"{self.subnet}.0/24", check=False).strip()
        if routed:
            raise NetnsError(f"{self.subnet}.0/24 is already routed on this machine ({routed.splitlines()[0]}); "
                             f"choose another port base")
        try:
            _ip("link", "add", self.bridge, "type", "bridge", "forward_delay", "0")
            _ip("addr", "add", f"{self.gateway}/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for name in names:
                ns, root_end, inner_end = self.namespace(name), self.root_link(name), self.root_link(name) + "p"
                _ip("netns", "add", ns)
                _ip("link", "add", root_end, "type", "veth", "peer", "name", inner_end, "netns", ns)
                _ip("link", "set", root_end, "master", self.bridge, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "addr", "add", f"{self.address(name)}/24", "dev", inner_end)
                _ip("-n", ns, "link", "set", inner_end, "up")
        except NetnsError:
            self.remove_all()
            raise

    def remove_all(self):
        """Every namespace and link of this base (the servers in them must be stopped first)."""
        if shutil.which("ip") is None:
            return
        for ns in self.namespaces():
            _ip("netns", "del", ns, check=False)
        for link in self.links():
            _ip("link", "del", link, check=False)

    def namespaces(self):
        out = _ip("netns", "list", check=False)
        names = (line.split()[0] for line in out.splitlines() if line.strip())
        return [n for n in names if n.startswith(self.prefix)]

    def links(self):
        """Root-namespace links of this base (bridge and veth root ends)."""
        out = _ip("-o", "link", "show", check=False)
        links = []
        for line in out.splitlines():
            fields = line.split(":", 2)
            if len(fields) > 1:
                name = fields[1].strip().split("@", 1)[0]
                if name.startswith(self.prefix):
                    links.append(name)
        return links

    # -- faults --------------------------------------------------------------------------------

    def partition(self, name):
        """Packets to and from the server vanish; its connections stay open on both sides."""
        _ip("link", "set", self.root_link(name), "down")

    def heal(self, name):
        _ip("link", "set", self.root_link(name), "up")

    def partitioned(self, name):
        """The server's root end is administratively down (flags without UP)."""
        out = _ip("-o", "link", "show", self.root_link(name), check=False)
        flags = out[out.find("<") + 1:out.find(">")].split(",") if "<" in out else []
        return bool(out) and "UP" not in flags


def _ip(*args, check=True):
    proc = subprocess.run(["ip", *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE)
    if check and proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise NetnsError(f"ip {' '.join(args)}: {message[0] if message else f'exit {proc.returncode}'}")
    return proc.stdout.decode(errors="replace") if proc.returncode == 0 else ""
