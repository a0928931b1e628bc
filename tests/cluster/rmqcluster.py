"""A local Apache RocketMQ 5.3.3 cluster (one NameServer, masters broker-a and broker-b) for tests.

The jars come from Maven Central (through `mvn`) into the ignored `.cache/` folder at the repository
root; every server runs as a detached JVM whose pid, configuration, store and logs live in
`.cache/cluster/<port base>/`. Only the Python standard library is used, so any test runner can call
the `rmq-cluster` command next to this file. Failures raise ClusterError, whose message is one line.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROCKETMQ_VERSION = "5.3.3"
CLUSTER_NAME = "DefaultCluster"
BROKERS = ("broker-a", "broker-b")
DEFAULT_PORT_BASE = 19876
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
ROUTE_TIMEOUT_S = 30.0

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
POM = HERE / "pom.xml"
TOOL_SOURCE_DIR = HERE / "java"

# JVM sizes for a small shared machine (the stock scripts ask for 4 GB and 8 GB).
NAMESRV_JVM = ["-Xms128m", "-Xmx256m", "-XX:+UseG1GC"]
BROKER_JVM = ["-Xms512m", "-Xmx512m", "-Xmn256m", "-XX:MaxDirectMemorySize=256m", "-XX:+UseG1GC"]
TOOL_JVM = ["-Xms64m", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
COMMON_JVM = ["-server", "-XX:-OmitStackTraceInFastThrow", "-Djava.net.preferIPv4Stack=true"]

# Mapped-file sizes far below the defaults (1 GiB commit log, ~420 MB index, 100 MiB timer log).
SMALL_STORE_CONF = {
    "mappedFileSizeCommitLog": 67108864,
    "mappedFileSizeConsumeQueue": 600000,
    "maxHashSlotNum": 100000,
    "maxIndexNum": 400000,
    "mappedFileSizeTimerLog": 16777216,
    "transientStorePoolEnable": "false",
}

# Remoting protocol (JSON serialisation) used to ask the NameServer without starting a JVM.
GET_ROUTEINFO_BY_TOPIC = 105
GET_BROKER_CLUSTER_INFO = 106
TOPIC_NOT_EXIST = 17
REMOTING_VERSION = 479  # MQVersion.V5_3_3: the NameServer answers with standard JSON.

# A secure cluster (`up --secure`): brokers require TLS (a self-signed certificate: the servers'
# test mode) and ACL 2.0 signatures by this user. The NameServer stays permissive (TLS or plain),
# so the launcher's own health checks keep working.
SECURE_ACCESS_KEY = "rocketmq"
SECURE_SECRET_KEY = "12345678"
SECURE_BROKER_JVM = ["-Dtls.server.mode=enforcing"]
SECURE_BROKER_CONF = [
    ("authenticationEnabled", "true"),
    ("authenticationProvider",
     "org.apache.rocketmq.auth.authentication.provider.DefaultAuthenticationProvider"),
    ("authenticationMetadataProvider",
     "org.apache.rocketmq.auth.authentication.provider.LocalAuthenticationMetadataProvider"),
    ("initAuthenticationUser", json.dumps({"username": SECURE_ACCESS_KEY, "password": SECURE_SECRET_KEY})),
    ("innerClientAuthenticationCredentials",
     json.dumps({"accessKey": SECURE_ACCESS_KEY, "secretKey": SECURE_SECRET_KEY})),
]
# The Java tools of a secure cluster speak TLS (trusting any certificate, the client test mode).
SECURE_TOOL_JVM = ["-Dtls.enable=true"]


class ClusterError(Exception):
    """A failure to report as one line on stderr."""

    def __init__(self, message, exit_code=1):
        super().__init__(" ".join(str(message).split()))
        self.exit_code = exit_code


# ------------------------------------------------------------------------------------------------
# Jars and the Java tool


class Install:
    """Where the jars, the Maven repository and the compiled tool live (RMQ_CACHE_DIR overrides)."""

    def __init__(self, cache_dir=None):
        cache = cache_dir or os.environ.get("RMQ_CACHE_DIR") or str(REPO_ROOT / ".cache")
        self.cache = Path(cache).resolve()
        self.m2 = self.cache / "m2"
        self.home = self.cache / f"rocketmq-{ROCKETMQ_VERSION}"
        self.lib = self.home / "lib"
        self.marker = self.home / "fetched.ok"
        self.tool_classes = self.home / "tool-classes"
        self.logback_dir = self.home / "logback"
        self.mvn_log = self.home / "mvn.log"

    def classpath(self, with_tool=False):
        parts = [str(self.tool_classes)] if with_tool else []
        return os.pathsep.join(parts + [str(self.lib / "*")])

    def logback_config(self, kind):
        """The stock logback file of one component; each JVM gets its own (all share one lib/)."""
        return self.logback_dir / f"rmq.{kind}.logback.xml"

    def fetch(self):
        """Downloads the jars unless a previous download completed, then (re)compiles the tool."""
        if self._jars_complete() and not self._tool_stale():
            return
        self.cache.mkdir(parents=True, exist_ok=True)
        # Parallel test runners may all call in at once: one downloads/compiles, the others wait.
        with open(self.cache / ".fetch.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self._jars_complete():
                self._download()
            if self._tool_stale():
                self._compile_tool()

    def _pom_digest(self):
        return hashlib.sha256(POM.read_bytes()).hexdigest()

    def _jars_complete(self):
        try:
            return self.marker.read_text().strip() == self._pom_digest()
        except OSError:
            return False

    def _download(self):
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ClusterError("mvn (Apache Maven) not found on PATH: it is needed once to download the "
                               f"RocketMQ {ROCKETMQ_VERSION} jars (e.g. apt-get install maven)")
        require_java()
        # A half download (no marker) is redone from a clean lib/ so no stale jar remains.
        with contextlib.suppress(FileNotFoundError):
            self.marker.unlink()
        shutil.rmtree(self.lib, ignore_errors=True)
        self.home.mkdir(parents=True, exist_ok=True)
        cmd = [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(POM), f"-Dmaven.repo.local={self.m2}",
               "dependency:copy-dependencies", f"-DoutputDirectory={self.lib}"]
        cmd += shlex.split(os.environ.get("RMQ_MAVEN_ARGS", ""))
        with open(self.mvn_log, "wb") as log:
            rc = subprocess.call(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 cwd=str(HERE))
        if rc != 0:
            raise ClusterError(f"download of the RocketMQ {ROCKETMQ_VERSION} jars with mvn failed "
                               f"(exit {rc}): {first_maven_error(self.mvn_log)} (full log: {self.mvn_log})")
        self._extract_logback_configs()
        self.marker.write_text(self._pom_digest() + "\n")

    def _extract_logback_configs(self):
        self.logback_dir.mkdir(parents=True, exist_ok=True)
        for kind in ("namesrv", "broker", "tools", "client"):
            jar = self.lib / f"rocketmq-{kind}-{ROCKETMQ_VERSION}.jar"
            name = f"rmq.{kind}.logback.xml"
            with zipfile.ZipFile(jar) as zf:
                self.logback_config(kind).write_bytes(zf.read(name))

    def _tool_stale(self):
        stamp = self.tool_classes / ".compiled"
        newest = max(p.stat().st_mtime for p in TOOL_SOURCE_DIR.glob("*.java"))
        return not stamp.exists() or stamp.stat().st_mtime < newest

    def _compile_tool(self):
        javac = jdk_tool("javac")
        if javac is None:
            raise ClusterError("javac not found on PATH (nor in $JAVA_HOME/bin): a JDK, not only a JRE, is "
                               "needed to build the reader/sender tool (e.g. apt-get install "
                               "openjdk-17-jdk-headless)")
        # Compile aside and swap in, so a tool already running keeps its classes.
        fresh = self.home / "tool-classes.new"
        shutil.rmtree(fresh, ignore_errors=True)
        fresh.mkdir(parents=True)
        sources = sorted(str(p) for p in TOOL_SOURCE_DIR.glob("*.java"))
        proc = subprocess.run([javac, "-nowarn", "-encoding", "UTF-8", "-cp", self.classpath(),
                               "-d", str(fresh)] + sources,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            first = next((ln for ln in proc.stdout.decode(errors="replace").splitlines() if ln.strip()), "")
            raise ClusterError(f"javac failed to compile {TOOL_SOURCE_DIR}: {first}")
        (fresh / ".compiled").touch()
        old = self.home / "tool-classes.old"
        shutil.rmtree(old, ignore_errors=True)
        if self.tool_classes.exists():
            self.tool_classes.rename(old)
        fresh.rename(self.tool_classes)
        shutil.rmtree(old, ignore_errors=True)


def first_maven_error(log_path):
    try:
        lines = Path(log_path).read_text(errors="replace").splitlines()
    except OSError:
        return "no output"
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln) for ln in lines]
    errors = [ln.replace("[ERROR]", "").strip() for ln in lines if "[ERROR]" in ln]
    errors = [e for e in errors if e and not e.startswith(("To see", "Re-run", "For more", "[Help"))]
    text = errors[0] if errors else next((ln for ln in reversed(lines) if ln.strip()), "no output")
    return text[:400]


def jdk_tool(name):
    """A JDK program from PATH, else from $JAVA_HOME/bin; None when neither has it."""
    found = shutil.which(name)
    if found is None and os.environ.get("JAVA_HOME"):
        found = shutil.which(name, path=str(Path(os.environ["JAVA_HOME"]) / "bin"))
    return found


def require_java():
    java = jdk_tool("java")
    if java is None:
        raise ClusterError("java not found on PATH (nor in $JAVA_HOME/bin): install a JDK 8+ (17 is tested), "
                           "e.g. apt-get install openjdk-17-jdk-headless")
    return java


# ------------------------------------------------------------------------------------------------
# NameServer queries over the remoting protocol


def remoting_call(addr, code, ext_fields=None, timeout=3.0):
    """Sends one JSON-serialised request and returns (code, remark, body bytes)."""
    header = {"code": code, "extFields": ext_fields or {}, "flag": 0, "language": "JAVA", "opaque": 1,
              "serializeTypeCurrentRPC": "JSON", "version": REMOTING_VERSION}
    encoded = json.dumps(header).encode()
    host, port = addr.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">ii", 4 + len(encoded), len(encoded)) + encoded)
            (length,) = struct.unpack(">i", _recv_exact(sock, 4))
            frame = _recv_exact(sock, length)
    except OSError as e:
        raise ClusterError(f"cannot reach {addr} ({e}); is the cluster up?") from None
    (mark,) = struct.unpack(">i", frame[:4])
    header_len = mark & 0xFFFFFF
    if mark >> 24 != 0:
        raise ClusterError(f"{addr} answered in a non-JSON serialisation ({mark >> 24})")
    response = json.loads(frame[4:4 + header_len])
    return response.get("code"), response.get("remark"), frame[4 + header_len:]


def _recv_exact(sock, n):
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        data += chunk
    return bytes(data)


def tolerant_json(raw):
    """Parses fastjson output, which writes non-string map keys unquoted: {0:"127.0.0.1:10911"}."""
    text = raw.decode("utf-8")
    out, i, in_string = [], 0, False
    while i < len(text):
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif c in "{," and i + 1 < len(text):
            out.append(c)
            j = i + 1
            while j < len(text) and text[j] in "-0123456789":
                j += 1
            if j > i + 1 and j < len(text) and text[j] == ":":
                out.append('"' + text[i + 1:j] + '"')
                i = j - 1
        else:
            out.append(c)
        i += 1
    return json.loads("".join(out))


def cluster_info(namesrv):
    code, remark, body = remoting_call(namesrv, GET_BROKER_CLUSTER_INFO)
    if code != 0:
        raise ClusterError(f"NameServer {namesrv} refused GET_BROKER_CLUSTER_INFO: {remark}")
    return tolerant_json(body) if body else {}


def topic_route(namesrv, topic):
    """The route JSON of a topic, or None when the NameServer has none."""
    code, remark, body = remoting_call(namesrv, GET_ROUTEINFO_BY_TOPIC,
                                       {"topic": topic, "acceptStandardJsonOnly": "true"})
    if code == TOPIC_NOT_EXIST:
        return None
    if code != 0:
        raise ClusterError(f"NameServer {namesrv} refused the route of {topic}: {remark}")
    return tolerant_json(body)


# ------------------------------------------------------------------------------------------------
# Processes


def port_in_use(port):
    """True when something already listens on the port (any address), as the servers bind 0.0.0.0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # SO_REUSEADDR ignores TIME_WAIT leftovers (the JVMs use it too) but not a live listener.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


def port_accepts(port, timeout=0.5):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def process_cmdline(pid):
    """The command line of a live process; "" when there is none (a zombie's is empty too)."""
    if Path("/proc/self").exists():
        try:
            return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            return ""
    proc = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return proc.stdout.decode(errors="replace")


class Member:
    """One server JVM of the cluster (namesrv, broker-a or broker-b)."""

    def __init__(self, cluster, name, port):
        self.cluster = cluster
        self.name = name
        self.port = port
        self.dir = cluster.state_dir / name
        self.pid_file = self.dir / "pid"
        self.stdout_file = self.dir / "stdout.log"
        self.home = self.dir / "home"  # -Duser.home: logs/rocketmqlogs and namesrv kv config go here
        self.conf_file = self.dir / f"{name}.conf"
        self._child = None  # Popen when this process started it (to reap it if it dies)
        self._log_offset = 0

    @property
    def is_broker(self):
        return self.name != "namesrv"

    @property
    def tag(self):
        """A system property on the JVM command line that identifies it as ours."""
        return f"-Drmq.cluster.member={self.cluster.base}/{self.name}"

    def ports(self):
        if not self.is_broker:
            return [self.port]
        return [self.port - 2, self.port, self.port + 1]  # VIP channel, listen port, HA port

    def pid(self):
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self):
        pid = self.pid()
        if pid is None:
            return False
        if self._child is not None and self._child.pid == pid:
            return self._child.poll() is None
        # A recycled pid or a zombie has another (or an empty) command line.
        return self.tag in process_cmdline(pid)

    def start(self):
        java = require_java()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        install = self.cluster.install
        kind = "broker" if self.is_broker else "namesrv"
        main = ("org.apache.rocketmq.broker.BrokerStartup" if self.is_broker
                else "org.apache.rocketmq.namesrv.NamesrvStartup")
        self.conf_file.write_text(
            "".join(f"{k}={v}\n" for k, v in (self.broker_conf() if self.is_broker else self.namesrv_conf())))
        secure_jvm = SECURE_BROKER_JVM if self.is_broker and self.cluster.secure else []
        cmd = ([java] + COMMON_JVM + (BROKER_JVM if self.is_broker else NAMESRV_JVM) + secure_jvm
               + [self.tag, f"-Duser.home={self.home}", f"-Drocketmq.home.dir={self.cluster.state_dir}",
                  f"-Drmq.logback.configurationFile={install.logback_config(kind)}",
                  "-cp", install.classpath(), main, "-c", str(self.conf_file)])
        with open(self.stdout_file, "ab") as out:
            out.write(f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} starting {self.name}\n".encode())
            out.flush()
            self._log_offset = out.tell()
            self._child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                           cwd=str(self.dir), start_new_session=True, close_fds=True)
        self.pid_file.write_text(f"{self._child.pid}\n")

    def started_here(self):
        return self._child is not None

    def namesrv_conf(self):
        return [("listenPort", self.port)]

    def broker_conf(self):
        store = self.dir / "store"
        conf = [
            ("brokerClusterName", CLUSTER_NAME),
            ("brokerName", self.name),
            ("brokerId", 0),
            ("brokerRole", "ASYNC_MASTER"),
            ("flushDiskType", "ASYNC_FLUSH"),
            ("namesrvAddr", self.cluster.namesrv_addr),
            ("brokerIP1", "127.0.0.1"),
            ("brokerIP2", "127.0.0.1"),
            ("listenPort", self.port),
            ("haListenPort", self.port + 1),
            ("storePathRootDir", store),
            ("storePathCommitLog", store / "commitlog"),
            ("autoCreateTopicEnable", "true"),
            ("autoCreateSubscriptionGroup", "true"),
            ("enablePropertyFilter", "true"),
            # CI disks are often >85 % full: by default the broker then deletes commit-log files
            # early (85 %) and refuses writes (90 %). Tests write little, so only stop near 98 %.
            ("diskMaxUsedSpaceRatio", 95),
            ("diskSpaceCleanForciblyRatio", 97),
            ("diskSpaceWarningLevelRatio", 98),
        ]
        secure = SECURE_BROKER_CONF if self.cluster.secure else []
        return conf + list(SMALL_STORE_CONF.items()) + secure + extra_broker_conf()

    def output_since_start(self):
        try:
            with open(self.stdout_file, "rb") as f:
                f.seek(self._log_offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def exit_reason(self):
        return explain(self.output_since_start())

    def send_signal(self, sig):
        pid = self.pid()
        if pid is not None and self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def stop(self, timeout=STOP_TIMEOUT_S, signalled=False):
        """SIGTERM (the servers flush and unregister on it), then SIGKILL after the timeout."""
        if self.running():
            if not signalled:
                self.send_signal(signal.SIGTERM)
            if not self.wait_gone(timeout):
                self.send_signal(signal.SIGKILL)
                self.wait_gone(10)
        self.forget()

    def kill(self):
        self.send_signal(signal.SIGKILL)
        self.wait_gone(10)
        self.forget()

    def wait_gone(self, timeout):
        deadline = time.monotonic() + timeout
        while self.running():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
        return True

    def forget(self):
        if self.running():
            raise ClusterError(f"{self.name} (pid {self.pid()}) did not stop")
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()

    def log_files(self):
        files = [self.stdout_file]
        main_log = "broker.log" if self.is_broker else "namesrv.log"
        files.append(self.home / "logs" / "rocketmqlogs" / main_log)
        return files


class Cluster:
    """The servers of one port base and their state folder."""

    def __init__(self, base=None, install=None):
        self.install = install or Install()
        raw = base if base is not None else os.environ.get("RMQ_PORT_BASE") or DEFAULT_PORT_BASE
        try:
            self.base = int(raw)
        except ValueError:
            raise ClusterError(f"port base must be a number, got '{raw}'", exit_code=64) from None
        if not 1024 <= self.base <= 65535 - 202:
            raise ClusterError(f"port base {self.base} is out of range (1024..{65535 - 202})")
        self.state_dir = self.install.cache / "cluster" / str(self.base)
        # Present while the cluster of this base is a secure one (kept across broker restarts).
        self.secure_marker = self.state_dir / "secure"
        self.namesrv = Member(self, "namesrv", self.base)
        self.brokers = {name: Member(self, name, self.base + 100 * (i + 1)) for i, name in enumerate(BROKERS)}

    @property
    def namesrv_addr(self):
        return f"127.0.0.1:{self.base}"

    @property
    def secure(self):
        return self.secure_marker.exists()

    def members(self):
        return [self.namesrv] + list(self.brokers.values())

    def broker(self, name):
        if name not in self.brokers:
            raise ClusterError(f"unknown broker '{name}' (expected one of: {', '.join(BROKERS)})", exit_code=64)
        return self.brokers[name]

    @contextlib.contextmanager
    def lock(self):
        """Serialises commands that start or stop servers of this base (parallel test runners)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / ".lock", "w") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    # -- health --------------------------------------------------------------------------------

    def registered_brokers(self):
        """Broker name -> master address as the NameServer knows it ({} when it cannot be asked)."""
        try:
            table = cluster_info(self.namesrv_addr).get("brokerAddrTable") or {}
        except (ValueError, ClusterError):
            return {}
        return {name: (data.get("brokerAddrs") or {}).get("0") for name, data in table.items()}

    def is_registered(self, broker, registered=None):
        registered = self.registered_brokers() if registered is None else registered
        return registered.get(broker.name) == f"127.0.0.1:{broker.port}"

    def healthy(self):
        if not all(m.running() for m in self.members()):
            return False
        registered = self.registered_brokers()
        return all(self.is_registered(b, registered) for b in self.brokers.values())

    # -- lifecycle -----------------------------------------------------------------------------

    def up(self, secure=False):
        require_java()
        with self.lock():
            cold = not any(m.running() for m in self.members())
            if not cold and secure != self.secure:
                have, want = ("secure", "plain") if self.secure else ("plain", "secure")
                raise ClusterError(f"the cluster of port base {self.base} is running {have}; run `down` "
                                   f"before starting it {want}")
            if self.healthy():
                return self.namesrv_addr
            self.install.fetch()
            if cold:
                self._wipe_state()
                if secure:
                    self.secure_marker.write_text(f"{SECURE_ACCESS_KEY}\n")
                else:
                    self.secure_marker.unlink(missing_ok=True)
            to_start = [m for m in self.members() if not m.running()]
            self._check_ports(to_start)
            started = []
            try:
                for member in to_start:
                    member.start()
                    started.append(member)
                    if not member.is_broker:
                        self._wait_namesrv_ready()
                # Brokers that were already running re-register within 30 s if the NameServer is new.
                for broker in self.brokers.values():
                    self._wait_registered(broker)
            except BaseException:
                # Nothing of value is in a cluster that failed to come up: no graceful shutdown.
                for member in reversed(started):
                    with contextlib.suppress(ClusterError):
                        member.kill()
                raise
        return self.namesrv_addr

    def down(self):
        with self.lock():
            # Brokers take several seconds each to shut down: let them do it side by side, and
            # keep the NameServer up meanwhile so they can unregister.
            brokers = list(self.brokers.values())
            for broker in brokers:
                broker.send_signal(signal.SIGTERM)
            for broker in brokers:
                broker.stop(signalled=True)
            self.namesrv.stop()

    def start_broker(self, name):
        broker = self.broker(name)
        with self.lock():
            if not self.namesrv.running():
                raise ClusterError(f"the NameServer of port base {self.base} is not running (run `up` first)")
            if broker.running():
                self._wait_registered(broker)
                return
            self.install.fetch()
            self._check_ports([broker])
            broker.start()
            try:
                self._wait_registered(broker)
            except BaseException:
                with contextlib.suppress(ClusterError):
                    broker.kill()
                raise

    def stop_broker(self, name):
        with self.lock():
            self.broker(name).stop()

    def kill_broker(self, name):
        with self.lock():
            self.broker(name).kill()

    def pause_broker(self, name):
        """SIGSTOP: the broker keeps its sockets and its place in the routes but answers nothing."""
        with self.lock():
            broker = self.broker(name)
            if not broker.running():
                raise ClusterError(f"{name} is not running; nothing to pause")
            broker.send_signal(signal.SIGSTOP)

    def resume_broker(self, name):
        """SIGCONT after pause-broker; a no-op for a broker that is not running."""
        with self.lock():
            broker = self.broker(name)
            if broker.running():
                broker.send_signal(signal.SIGCONT)

    def _wipe_state(self):
        for member in self.members():
            shutil.rmtree(member.dir, ignore_errors=True)

    def _check_ports(self, members):
        for member in members:
            for port in member.ports():
                if port_in_use(port):
                    raise ClusterError(f"port {port} (needed by {member.name} of port base {self.base}) is "
                                       f"already in use on this machine; stop that process or choose another "
                                       f"RMQ_PORT_BASE / --port-base")

    def _wait(self, member, what, ready, timeout=START_TIMEOUT_S):
        deadline = time.monotonic() + timeout
        while True:
            if ready():
                return
            if not member.running():
                raise ClusterError(f"{member.name} exited while starting ({member.exit_reason()}); "
                                   f"see {member.stdout_file}")
            if time.monotonic() > deadline:
                raise ClusterError(f"{member.name} not {what} after {int(timeout)} s; see {member.stdout_file}")
            time.sleep(0.25)

    def _wait_namesrv_ready(self):
        self._wait(self.namesrv, "accepting connections", lambda: port_accepts(self.namesrv.port))

    def _wait_registered(self, broker):
        self._wait(broker, "registered with the NameServer", lambda: self._booted_and_registered(broker))

    def _booted_and_registered(self, broker):
        # A broker just started by us must also say it booted: the NameServer may still list the
        # address of its previous run for a moment.
        if broker.started_here() and "boot success" not in broker.output_since_start():
            return False
        return self.is_registered(broker)

    # -- topics --------------------------------------------------------------------------------

    def create_topic(self, topic, queues=8, order=False):
        self.require_namesrv()
        args = ["updateTopic", "-c", CLUSTER_NAME, "-t", topic, "-r", str(queues), "-w", str(queues)]
        if order:
            args += ["-o", "true"]
        proc = self.run_java_admin(args, capture=True)
        output = proc.stdout.decode(errors="replace")
        if proc.returncode != 0 or "success" not in output:
            raise ClusterError(f"updateTopic {topic} failed (exit {proc.returncode}): "
                               f"{explain(output)}")
        deadline = time.monotonic() + ROUTE_TIMEOUT_S
        expected = set(self.brokers)
        while True:
            route = topic_route(self.namesrv_addr, topic)
            present = {q["brokerName"] for q in (route or {}).get("queueDatas", [])
                       if q.get("writeQueueNums") == queues}
            if present >= expected:
                return route
            if time.monotonic() > deadline:
                raise ClusterError(f"topic {topic} created but the NameServer route lists only "
                                   f"{sorted(present) or 'no broker'} after {int(ROUTE_TIMEOUT_S)} s")
            time.sleep(0.2)

    def require_namesrv(self):
        if not port_accepts(self.base, timeout=2.0):
            raise ClusterError(f"no NameServer at {self.namesrv_addr}; start the cluster first "
                               f"(rmq-cluster --port-base {self.base} up)")

    def route(self, topic):
        self.require_namesrv()
        route = topic_route(self.namesrv_addr, topic)
        if route is None:
            raise ClusterError(f"the NameServer {self.namesrv_addr} has no route for topic {topic}", exit_code=2)
        return route

    # -- Java programs -------------------------------------------------------------------------

    def _java_cmd(self, jvm_props, main, args, with_tool=False, logback="client"):
        java = require_java()
        tool_home = self.state_dir / "tool-home"
        tool_home.mkdir(parents=True, exist_ok=True)
        return ([java] + TOOL_JVM
                + [f"-Duser.home={tool_home}",
                   f"-Drmq.logback.configurationFile={self.install.logback_config(logback)}",
                   "-Drocketmq.log.level=warn"]
                + jvm_props + ["-cp", self.install.classpath(with_tool=with_tool), main] + list(args))

    def run_java_admin(self, args, capture=False):
        """Runs mqadmin; `-n <namesrv>` is added unless given (every mqadmin subcommand accepts it)."""
        self.install.fetch()
        args = list(args)
        if args and args[0] not in ("help", "-h", "--help") and "-n" not in args:
            self.require_namesrv()
            args += ["-n", self.namesrv_addr]
        cmd = self._java_cmd(self._admin_secure_props(), "org.apache.rocketmq.tools.command.MQAdminStartup", args,
                             logback="tools")
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.STDOUT if capture else None)

    def run_tool(self, args):
        """Runs the Java reader/sender (java/RmqTool.java); its stdout is JSON lines."""
        self.install.fetch()
        self.require_namesrv()
        props = [f"-Drmq.tool.namesrv={self.namesrv_addr}"] + (SECURE_TOOL_JVM if self.secure else [])
        cmd = self._java_cmd(props, "RmqTool", args, with_tool=True)
        env = dict(os.environ)
        if self.secure:
            env.update(RMQ_TOOL_ACCESS_KEY=SECURE_ACCESS_KEY, RMQ_TOOL_SECRET_KEY=SECURE_SECRET_KEY)
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, env=env).returncode

    def _admin_secure_props(self):
        """mqadmin signs with the credentials in <rocketmq.home.dir>/conf/tools.yml."""
        if not self.secure:
            return []
        home = self.state_dir / "admin-home"
        (home / "conf").mkdir(parents=True, exist_ok=True)
        (home / "conf" / "tools.yml").write_text(
            f"accessKey: {SECURE_ACCESS_KEY}\nsecretKey: {SECURE_SECRET_KEY}\n")
        return SECURE_TOOL_JVM + [f"-Drocketmq.home.dir={home}"]

    # -- reporting -----------------------------------------------------------------------------

    def status_lines(self):
        registered = self.registered_brokers()
        lines = []
        for m in self.members():
            state = f"running (pid {m.pid()})" if m.running() else "stopped"
            extra = ""
            if m.is_broker:
                extra = "registered" if self.is_registered(m, registered) else "not registered"
            lines.append(f"{m.name:<9} 127.0.0.1:{m.port:<6} {state:<22} {extra}".rstrip())
        return lines

    def log_tails(self, names=None, lines=40):
        out = []
        for m in self.members():
            if names and m.name not in names:
                continue
            for path in m.log_files():
                out.append(f"===== {m.name}: {path}")
                try:
                    out.extend(Path(path).read_text(errors="replace").splitlines()[-lines:])
                except OSError:
                    out.append("(no such file)")
        return out


def explain(output):
    """The most telling line of a JVM's output: the last exception or error, else the last line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip() and not ln.strip().startswith("at ")]
    for ln in reversed(lines):
        if "Exception" in ln or "Error" in ln or "error" in ln:
            return ln[:300]
    return lines[-1][:300] if lines else "no output"


def member_processes(base):
    """Pids of live JVMs tagged for a port base (used by tests to prove nothing is left behind)."""
    marker = f"-Drmq.cluster.member={base}/"
    pids = []
    for entry in Path("/proc").glob("[0-9]*"):
        if marker in process_cmdline(entry.name):
            pids.append(int(entry.name))
    return pids


# ------------------------------------------------------------------------------------------------
# Command line

USAGE = """usage: rmq-cluster [--port-base N] COMMAND [ARGS...]

Local Apache RocketMQ 5.3.3 cluster: NameServer at 127.0.0.1:BASE, masters broker-a (BASE+100)
and broker-b (BASE+200). BASE comes from --port-base, else $RMQ_PORT_BASE, else 19876.

commands:
  fetch                      download the jars (mvn) and compile the Java tool into .cache/
  up [--secure]              start the cluster (if not already healthy); prints NAMESRV_ADDR=...
                             --secure: brokers require TLS and ACL 2.0 signatures (user
                             rocketmq / 12345678); the tools below then sign and use TLS
  down                       stop every server of this base
  status                     show servers and registration (exit 0 only when all healthy)
  logs [NAME...] [--lines N] print the tail of the servers' logs
  kill-broker NAME           SIGKILL a broker
  pause-broker NAME          SIGSTOP a broker (hung: in the routes, answering nothing)
  resume-broker NAME         SIGCONT a paused broker
  stop-broker NAME           SIGTERM a broker and wait until it is gone
  start-broker NAME          start a stopped broker (same store), wait until registered
  create-topic TOPIC [--queues N] [--order]
                             create a topic on both brokers, wait for its route
  route TOPIC                print the NameServer route of a topic as JSON
  admin ARGS...              run mqadmin (-n is added unless given)
  read-topic TOPIC [--timeout-ms N] [--expect N]
                             print every stored message of the topic as JSON lines
  read-key TOPIC UNIQ_KEY [--timeout-ms N]
                             print the message with that UNIQ_KEY (msgId) as JSON
  read-id OFFSET_MSG_ID [--topic T]
                             print the message with that offset message id as JSON
  send TOPIC BODY [--body-base64] [--tags T] [--keys K1,K2] [--prop k=v]...
       [--sharding-key K] [--group G] [--count N] [--linger-ms N]
                             send with the Java DefaultMQProducer (sync), print SendResult JSON
  producers GROUP            print the producer connections the brokers know for a group
  reply-responder TOPIC [--count N] [--timeout-ms N]
                             answer N request messages on TOPIC with the Java client
                             (reply body "reply:" + request body); prints {"ready":true}, then a line per reply
  id-time UNIQ_KEY           print the time the Java client reads in a UNIQ_KEY (epoch ms, local time zone)

environment: RMQ_PORT_BASE, RMQ_CACHE_DIR (default <repo>/.cache), RMQ_MAVEN_ARGS (extra mvn args),
             RMQ_BROKER_CONF (extra broker settings, key=value;key=value),
             RMQ_TOOL_ACCESS_KEY / RMQ_TOOL_SECRET_KEY (credentials of the Java tools)
"""

TOOL_COMMANDS = (
    "read-topic", "read-key", "read-id", "send", "producers", "reply-responder", "id-time",
)


def extra_broker_conf():
    """Extra broker settings from $RMQ_BROKER_CONF, "key=value;key=value" or one per line (they
    come last, so they win), e.g. faster transaction checks:
    transactionTimeOut=2000;transactionCheckInterval=2000. Read when a broker starts."""
    raw = os.environ.get("RMQ_BROKER_CONF", "")
    pairs = []
    for item in filter(None, (part.strip() for part in raw.replace("\n", ";").split(";"))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ClusterError(f"RMQ_BROKER_CONF: expected key=value, got {item!r}")
        pairs.append((key.strip(), value.strip()))
    return pairs


def _take_option(args, name, default=None, flag=False):
    """Removes `name [value]` from args and returns its value (True for flags)."""
    if name not in args:
        return default
    i = args.index(name)
    if flag:
        del args[i]
        return True
    if i + 1 >= len(args):
        raise ClusterError(f"option {name} needs a value", exit_code=64)
    value = args[i + 1]
    del args[i:i + 2]
    return value


def _int_option(args, name, default):
    value = _take_option(args, name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ClusterError(f"option {name} expects a number, got '{value}'", exit_code=64) from None


def _exactly(args, names):
    if len(args) != len(names):
        raise ClusterError(f"expected arguments: {' '.join(names) or '(none)'}; got: {' '.join(args) or '(none)'}",
                           exit_code=64)
    return args


def _exit_on_sigterm(signum, frame):
    # Unwinds like Ctrl-C so a half-started cluster is stopped when a test runner times out.
    raise SystemExit(128 + signum)


def main(argv=None):
    args = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        # Options of the launcher itself come before the command, so `admin` can pass anything through.
        base = None
        while args and args[0].startswith("--port-base"):
            if "=" in args[0]:
                base = args.pop(0).split("=", 1)[1]
            else:
                if len(args) < 2:
                    raise ClusterError("option --port-base needs a value", exit_code=64)
                base = args[1]
                del args[:2]
        if not args:
            print(USAGE, end="", file=sys.stderr)
            return 64
        if args[0] in ("-h", "--help", "help"):
            print(USAGE, end="")
            return 0
        command, rest = args[0], args[1:]
        if "--port-base" in rest and command != "admin":
            base = _take_option(rest, "--port-base")
        return run_command(command, rest, base)
    except ClusterError as e:
        print(f"rmq-cluster: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("rmq-cluster: error: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # a bug or an unforeseen environment problem: still one line
        print(f"rmq-cluster: error: unexpected {type(e).__name__}: {e}", file=sys.stderr)
        return 1


def run_command(command, args, base):
    if command == "fetch":
        _exactly(args, [])
        require_java()
        install = Install()
        install.fetch()
        print(f"RocketMQ {ROCKETMQ_VERSION} jars in {install.lib}")
        return 0
    cluster = Cluster(base)
    if command == "up":
        secure = _take_option(args, "--secure", default=False, flag=True)
        _exactly(args, [])
        print(f"NAMESRV_ADDR={cluster.up(secure)}", flush=True)
        return 0
    if command == "down":
        _exactly(args, [])
        cluster.down()
        return 0
    if command == "status":
        _exactly(args, [])
        print("\n".join(cluster.status_lines()))
        return 0 if cluster.healthy() else 3
    if command == "logs":
        lines = _int_option(args, "--lines", 40)
        print("\n".join(cluster.log_tails(args, lines)))
        return 0
    if command in ("kill-broker", "stop-broker", "start-broker", "pause-broker", "resume-broker"):
        (name,) = _exactly(args, ["NAME"])
        {"kill-broker": cluster.kill_broker, "stop-broker": cluster.stop_broker,
         "start-broker": cluster.start_broker, "pause-broker": cluster.pause_broker,
         "resume-broker": cluster.resume_broker}[command](name)
        return 0
    if command == "create-topic":
        queues = _int_option(args, "--queues", 8)
        order = _take_option(args, "--order", default=False, flag=True)
        (topic,) = _exactly(args, ["TOPIC"])
        cluster.create_topic(topic, queues, order)
        print(f"topic {topic} created with {queues} queue(s) on {', '.join(BROKERS)}")
        return 0
    if command == "route":
        (topic,) = _exactly(args, ["TOPIC"])
        print(json.dumps(cluster.route(topic), sort_keys=True))
        return 0
    if command == "admin":
        return cluster.run_java_admin(args).returncode
    if command in TOOL_COMMANDS:
        sys.stdout.flush()
        return cluster.run_tool([command] + args)
    raise ClusterError(f"unknown command '{command}' (see rmq-cluster --help)", exit_code=64)
