"""A local Apache RocketMQ cluster for tests: one NameServer and the groups broker-a and broker-b,
each a lone master (topology `masters`, the default) or a master with a slave (`master-slave`), on
RocketMQ 5.3.3 (the default) or another version such as 4.9.7.

The jars come from Maven Central (through `mvn`) into the ignored `.cache/` folder at the repository
root; every server runs as a detached JVM whose pid, configuration and logs live in
`.cache/cluster/<port base>/`, and each broker's store in memory (see `store_root`). Only the Python
standard library is used, so any test runner can call the `rmq-cluster` command next to this file.
Failures raise ClusterError, whose message is one line.
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

import netns

ROCKETMQ_VERSION = "5.3.3"  # the default version
# rocketmq-example (the benchmark tools) per major version: the nearest release on Maven Central,
# taken without dependencies (see pom.xml).
EXAMPLE_VERSIONS = {4: "4.7.0", 5: "5.5.0"}
TOPOLOGIES = ("masters", "master-slave", "controller", "proxy")
SLAVE_SUFFIX = "-s"  # broker-a's slave is broker-a-s
SLAVE_PORT_OFFSET = 50  # broker-a-s listens at broker-a's port + 50
CLUSTER_NAME = "DefaultCluster"
BROKERS = ("broker-a", "broker-b")
DEFAULT_PORT_BASE = 19876
# Per server; RMQ_START_TIMEOUT_S raises it on a starved machine (a broker took > 120 s under load 30).
START_TIMEOUT_S = float(os.environ.get("RMQ_START_TIMEOUT_S") or 120.0)
STOP_TIMEOUT_S = 30.0
ROUTE_TIMEOUT_S = 30.0
ROUTE_ROUNDS = 3  # create-topic: runs of updateTopic, each followed by a third of ROUTE_TIMEOUT_S
# A broker registers with the NameServer every 30 s (registerNameServerPeriod), and again after the
# NameServer dropped it: it does on a closed connection, as a broker closes one whose call timed out.
REGISTRATION_TIMEOUT_S = 45.0
ADMIN_TIMEOUT_ATTEMPTS = 3  # create-topic: runs of mqadmin updateTopic while it fails transiently
ADMIN_TRANSIENT_ERRORS = ("RemotingTimeoutException", "RemotingSendRequestException")

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
POM = HERE / "pom.xml"
PROXY_POM = HERE / "proxy-pom.xml"  # the 5.x Proxy, kept apart: see ProxyInstall
TOOL_SOURCE_DIR = HERE / "java"

# JVM sizes for a small shared machine (the stock scripts ask for 4 GB and 8 GB).
NAMESRV_JVM = ["-Xms128m", "-Xmx256m", "-XX:+UseG1GC"]
BROKER_JVM = ["-Xms512m", "-Xmx512m", "-Xmn256m", "-XX:MaxDirectMemorySize=256m", "-XX:+UseG1GC"]
# master-slave runs four brokers: smaller heaps (the store's mapped files are outside the heap).
# Direct memory is a limit, not a size: each HA handshake takes 4 MiB buffers that only a GC
# returns, and a master whose slaves reconnected a few times ran out of 192 MiB (chaos runs).
GROUP_BROKER_JVM = ["-Xms256m", "-Xmx384m", "-Xmn128m", "-XX:MaxDirectMemorySize=512m", "-XX:+UseG1GC"]
TOOL_JVM = ["-Xms64m", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC"]
# 4.9's store cleans mapped buffers through DirectByteBuffer.attachment()/cleaner by reflection, which a
# JDK 17 refuses unless java.nio and jdk.internal.ref are opened (a restarted broker then fails to load
# its store).
JVM_4X_OPENS = ["--add-opens=java.base/java.nio=ALL-UNNAMED", "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
                "--add-exports=java.base/jdk.internal.ref=ALL-UNNAMED", "--add-opens=java.base/jdk.internal.ref=ALL-UNNAMED"]
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
GET_BROKER_CONFIG = 26
GET_ALL_TOPIC_CONFIG = 21
GET_BROKER_RUNTIME_INFO = 28
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

# A mutual-TLS cluster (`up --mtls`): one master, broker-a, that accepts only TLS connections
# presenting a client certificate signed by the launcher's test CA; it and the NameServer show a
# server certificate of that CA (SAN 127.0.0.1 and localhost). The NameServer stays permissive and
# asks for no client certificate (the launcher's health checks and the brokers' registrations are
# plain TCP). The files are written into <state>/tls/ by a cold `up` (see make_test_pki).
MTLS_BROKERS = ("broker-a",)
MTLS_FILES = {
    "ca": "ca.pem",  # the CA that signed every certificate below
    "cert": "client.pem",  # a client certificate the broker accepts...
    "key": "client.key",  # ...and its key (PKCS#8 PEM)
    "untrusted_ca": "untrusted-ca.pem",  # another CA: it signed nothing the servers show
    "untrusted_cert": "untrusted-client.pem",  # a client certificate of that other CA...
    "untrusted_key": "untrusted-client.key",  # ...and its key
}

# A secure 4.x cluster: ACL 1.0 instead (4.x has no ACL 2.0). Brokers get `aclEnable=true` and read
# the accounts from <rocketmq.home.dir>/conf/plain_acl.yml, written by the launcher: the tools'
# admin account (same credentials as on 5.x) and a restricted one that may neither publish nor
# administer, for denied-access tests. No address is whitelisted: a whitelist hit (127.0.0.1
# included) skips the signature check.
SECURE_V4_RESTRICTED_ACCESS_KEY = "rmq-restricted"
SECURE_V4_RESTRICTED_SECRET_KEY = "restricted-secret"
SECURE_V4_BROKER_CONF = [("aclEnable", "true")]
PLAIN_ACL_V4 = f"""accounts:
  - accessKey: {SECURE_ACCESS_KEY}
    secretKey: {SECURE_SECRET_KEY}
    admin: true
    defaultTopicPerm: PUB|SUB
    defaultGroupPerm: PUB|SUB
  - accessKey: {SECURE_V4_RESTRICTED_ACCESS_KEY}
    secretKey: {SECURE_V4_RESTRICTED_SECRET_KEY}
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
"""


# 4.9 servers and mqadmin configure logback from <rocketmq.home.dir>/conf/logback_<kind>.xml, a file
# of the binary distribution, not of the jars: the launcher writes this small one instead.
LOGBACK_4X = """<?xml version="1.0" encoding="UTF-8"?>
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>${{user.home}}/logs/rocketmqlogs/{log}.log</file>
    <encoder><pattern>%d{{yyyy-MM-dd HH:mm:ss.SSS}} %-5p [%t] %c{{0}} - %m%n</pattern></encoder>
  </appender>
  <root level="{level}"><appender-ref ref="FILE"/></root>
</configuration>
"""
LOGBACK_4X_KINDS = {"namesrv": ("namesrv", "INFO"), "broker": ("broker", "INFO"), "tools": ("tools", "WARN")}


# A broker deletes commit-log files once its store's file system is 85 % full and refuses every
# write at 90 % (5.x caps its settings there; 4.9 reads them only from system properties).
STORE_CLEAN_RATIO = 0.85
STORE_FULL_RATIO = 0.90
# The brokers' stores live here when it is a memory file system with this much room.
MEMORY_FS = Path("/dev/shm")
MEMORY_FS_MIN_FREE = 2 << 30


def used_ratio(path):
    fs = os.statvfs(path)
    return 1 - fs.f_bavail / fs.f_blocks if fs.f_blocks else 0.0


def store_root(state_dir):
    """The folder of the brokers' stores of one cluster: under $RMQ_STORE_DIR, else in memory
    (/dev/shm), else in the state folder. A shared CI disk can be over 85 % full, where the brokers
    would delete and then refuse what the tests write; the tests write little, so memory holds it."""
    key = hashlib.sha256(str(state_dir).encode()).hexdigest()[:12]
    chosen = os.environ.get("RMQ_STORE_DIR")
    if chosen:
        return Path(chosen).resolve() / key
    try:
        fs = os.statvfs(MEMORY_FS)
        roomy = fs.f_bavail * fs.f_frsize >= MEMORY_FS_MIN_FREE and os.access(MEMORY_FS, os.W_OK)
    except OSError:
        roomy = False
    if roomy:
        return MEMORY_FS / f"rmqproducer-{os.getuid()}" / key
    return state_dir / "stores"


def make_test_pki(tls_dir):
    """The certificates and keys of an `up --mtls` cluster (MTLS_FILES, plus server.pem/.key and
    the CAs' keys), made with the openssl command: EC P-256 keys in PKCS#8 PEM, the form
    RocketMQ's TLS guide asks for (5.3.3's Netty, with BouncyCastle among the jars, also reads
    SEC1 and PKCS#1 keys: tried on a broker and in the Java tools)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ClusterError("up --mtls needs the openssl command (apt-get install openssl)")
    tls_dir.mkdir(parents=True, exist_ok=True)

    def run(*args):
        proc = subprocess.run([openssl, *args], cwd=tls_dir, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if proc.returncode != 0:
            raise ClusterError(f"openssl {args[0]} failed: {proc.stdout.decode(errors='replace')}")

    def certificate(name, subject, extensions, issuer=None):
        """name.key and name.pem, signed by issuer (a name made before) or by itself."""
        run("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key")
        run("req", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr")
        (tls_dir / f"{name}.ext").write_text("\n".join(extensions) + "\n")
        signer = (["-CA", f"{issuer}.pem", "-CAkey", f"{issuer}.key", "-CAcreateserial"] if issuer
                  else ["-signkey", f"{name}.key"])
        run("x509", "-req", "-in", f"{name}.csr", *signer, "-days", "3650", "-sha256",
            "-extfile", f"{name}.ext", "-out", f"{name}.pem")

    ca = ["basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign,cRLSign"]
    leaf = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature"]
    certificate("ca", "/CN=rmq-cluster test CA", ca)
    certificate("server", "/CN=localhost", leaf + ["extendedKeyUsage=serverAuth",
                                                    "subjectAltName=IP:127.0.0.1,DNS:localhost"], "ca")
    certificate("client", "/CN=rmq-cluster test client", leaf + ["extendedKeyUsage=clientAuth"], "ca")
    certificate("untrusted-ca", "/CN=rmq-cluster untrusted CA", ca)
    certificate("untrusted-client", "/CN=rmq-cluster untrusted client",
                leaf + ["extendedKeyUsage=clientAuth"], "untrusted-ca")


def tls_properties(path, entries):
    """A tls.config.file: the servers and the Java tools read their TLS settings from it."""
    path.write_text("".join(f"{key}={value}\n" for key, value in entries))
    return path


def progress(message, end="\n"):
    """One step of a long operation (a first download), on stderr: stdout stays machine-readable."""
    print(f"rmq-cluster: {message}", end=end, file=sys.stderr, flush=True)


def parse_version(version):
    """(major, version) for a RocketMQ release number such as 5.3.3 or 4.9.7."""
    match = re.fullmatch(r"([45])\.\d+\.\d+", version or "")
    if not match:
        raise ClusterError(f"unsupported RocketMQ version '{version}' (expected 4.x.y or 5.x.y, e.g. 4.9.7)",
                           exit_code=64)
    return int(match.group(1)), version


class ClusterError(Exception):
    """A failure to report as one line on stderr."""

    def __init__(self, message, exit_code=1):
        super().__init__(" ".join(str(message).split()))
        self.exit_code = exit_code


# ------------------------------------------------------------------------------------------------
# Jars and the Java tool


class Install:
    """Where the jars of one RocketMQ version, the Maven repository and the compiled tool live
    (RMQ_CACHE_DIR overrides the folder)."""

    def __init__(self, cache_dir=None, version=ROCKETMQ_VERSION):
        cache = cache_dir or os.environ.get("RMQ_CACHE_DIR") or str(REPO_ROOT / ".cache")
        self.major, self.version = parse_version(version)
        self.cache = Path(cache).resolve()
        self.m2 = self.cache / "m2"
        self.home = self.cache / f"rocketmq-{self.version}"
        self.lib = self.home / "lib"
        self.marker = self.home / "fetched.ok"
        self.tool_classes = self.home / "tool-classes"
        self.logback_dir = self.home / "logback"
        self.mvn_log = self.home / "mvn.log"
        self.pom = POM
        # 4.9 reads its logback files from <rocketmq.home.dir>/conf (mqadmin is pointed here).
        self.conf_dir = self.home / "conf"

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
        digest = hashlib.sha256(self.pom.read_bytes())
        if self.version != ROCKETMQ_VERSION:
            # The default version's marker stays the pom's own digest, so existing caches stay valid.
            digest.update(f"\nrocketmq.version={self.version}\n".encode())
        return digest.hexdigest()

    def version_args(self):
        if self.version == ROCKETMQ_VERSION:
            return []
        return [f"-Drocketmq.version={self.version}",
                f"-Drocketmq.example.version={EXAMPLE_VERSIONS[self.major]}"]

    def _jars_complete(self):
        try:
            return self.marker.read_text().strip() == self._pom_digest()
        except OSError:
            return False

    def _download(self):
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ClusterError("mvn (Apache Maven) not found on PATH: it is needed once to download the "
                               f"RocketMQ {self.version} jars (e.g. apt-get install maven)")
        require_java()
        # A half download (no marker) is redone from a clean lib/ so no stale jar remains.
        with contextlib.suppress(FileNotFoundError):
            self.marker.unlink()
        shutil.rmtree(self.lib, ignore_errors=True)
        self.home.mkdir(parents=True, exist_ok=True)
        cmd = [mvn, "-B", "-Dstyle.color=never", "-f", str(self.pom), f"-Dmaven.repo.local={self.m2}",
               "dependency:copy-dependencies", f"-DoutputDirectory={self.lib}"] + self.version_args()
        cmd += shlex.split(os.environ.get("RMQ_MAVEN_ARGS", ""))
        progress(f"fetching the RocketMQ {self.version} jars with mvn into {self.lib} "
                 f"(once; log: {self.mvn_log})")
        progress("downloading (a dot per file from Maven Central) ", end="")
        downloaded = 0
        with open(self.mvn_log, "wb") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    cwd=str(HERE))
            for line in proc.stdout:
                log.write(line)
                if line.startswith(b"[INFO] Downloaded from"):
                    downloaded += 1
                    print(".", end="", file=sys.stderr, flush=True)
            rc = proc.wait()
        print(f" {downloaded} file(s)", file=sys.stderr, flush=True)
        if rc != 0:
            raise ClusterError(f"download of the RocketMQ {self.version} jars with mvn failed "
                               f"(exit {rc}): {first_maven_error(self.mvn_log)} (full log: {self.mvn_log})")
        self._write_logback_configs()
        self.marker.write_text(self._pom_digest() + "\n")
        progress(f"RocketMQ {self.version}: {len(list(self.lib.glob('*.jar')))} jars ready")

    def _write_logback_configs(self):
        if self.major == 4:
            self.conf_dir.mkdir(parents=True, exist_ok=True)
            for kind, (log, level) in LOGBACK_4X_KINDS.items():
                (self.conf_dir / f"logback_{kind}.xml").write_text(LOGBACK_4X.format(log=log, level=level))
            return
        self.logback_dir.mkdir(parents=True, exist_ok=True)
        for kind in ("namesrv", "broker", "tools", "client"):
            jar = self.lib / f"rocketmq-{kind}-{self.version}.jar"
            name = f"rmq.{kind}.logback.xml"
            with zipfile.ZipFile(jar) as zf:
                self.logback_config(kind).write_bytes(zf.read(name))

    def tool_sources(self):
        """RmqTool.java and the shim of this major version (java/v4 or java/v5)."""
        return sorted(TOOL_SOURCE_DIR.glob("*.java")) + sorted((TOOL_SOURCE_DIR / f"v{self.major}").glob("*.java"))

    def _tool_stale(self):
        stamp = self.tool_classes / ".compiled"
        newest = max(p.stat().st_mtime for p in self.tool_sources())
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
        progress(f"compiling the Java reader/sender against the RocketMQ {self.version} client")
        sources = [str(p) for p in self.tool_sources()]
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


def broker_info(addr):
    """What a broker says about itself: its role, id and flush mode (its configuration), its version
    and commit-log max offset (its runtime info). The max offset of a slave equal to its master's
    proves replication."""
    code, remark, body = remoting_call(addr, GET_BROKER_CONFIG)
    if code != 0:
        raise ClusterError(f"broker {addr} refused its configuration: {remark}")
    config = dict(line.split("=", 1) for line in body.decode(errors="replace").splitlines() if "=" in line)
    code, remark, body = remoting_call(addr, GET_BROKER_RUNTIME_INFO)
    if code != 0:
        raise ClusterError(f"broker {addr} refused its runtime info: {remark}")
    runtime = tolerant_json(body).get("table") or {}
    return {"brokerName": config.get("brokerName"), "brokerId": int(config.get("brokerId", -1)),
            "brokerRole": config.get("brokerRole"), "flushDiskType": config.get("flushDiskType"),
            "version": runtime.get("brokerVersionDesc"),
            "commitLogMaxOffset": int(runtime.get("commitLogMaxOffset", -1))}


def broker_topics(addr):
    """The topics a broker has a configuration for. A slave copies its master's every 10 s and
    refuses pulls of a topic it has not copied yet (code 17, topic not exist)."""
    code, remark, body = remoting_call(addr, GET_ALL_TOPIC_CONFIG)
    if code != 0:
        raise ClusterError(f"broker {addr} refused its topic configuration: {remark}")
    return set(tolerant_json(body).get("topicConfigTable") or {})


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


def port_accepts(port, timeout=0.5, host="127.0.0.1"):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def established_connections_to(port, pid="self"):
    """How many ESTABLISHED TCP connections to a port (client side) the network namespace of
    process PID has, from /proc/PID/net/tcp; None where /proc is not there."""
    count, found = 0, False
    for table in (f"/proc/{pid}/net/tcp", f"/proc/{pid}/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        found = True
        for line in lines:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if remote_port == port and fields[3] == "01":  # 01 = TCP_ESTABLISHED
                count += 1
    return count if found else None


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
    """One server JVM of the cluster: the namesrv, a master (broker-a) or a slave (broker-a-s)."""

    def __init__(self, cluster, name, port, group=None, broker_id=0):
        self.cluster = cluster
        self.name = name
        self.port = port
        self.group = group  # brokerName, shared by a master and its slave; None for the namesrv
        self.broker_id = broker_id  # 0 master, 1 slave
        self.dir = cluster.state_dir / name
        self.pid_file = self.dir / "pid"
        self.stdout_file = self.dir / "stdout.log"
        self.home = self.dir / "home"  # -Duser.home: logs/rocketmqlogs and namesrv kv config go here
        self.conf_file = self.dir / f"{name}.conf"
        self.store = cluster.store_dir / name
        self._child = None  # Popen when this process started it (to reap it if it dies)
        self._log_offset = 0

    @property
    def is_broker(self):
        return self.group is not None

    @property
    def is_slave(self):
        return self.broker_id > 0

    @property
    def host(self):
        """127.0.0.1, or the server's own address in its namespace (`up --netns`)."""
        network = self.cluster.network
        return network.address(self.name) if network is not None else "127.0.0.1"

    @property
    def addr(self):
        return f"{self.host}:{self.port}"

    @property
    def role(self):
        if self.is_slave:
            return "SLAVE"
        return self.cluster.deployment.master_role

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
        heap = NAMESRV_JVM
        if self.is_broker:
            heap = GROUP_BROKER_JVM if self.cluster.deployment.topology != "masters" else BROKER_JVM
        if install.major == 4:
            # 4.9 reads <rocketmq.home.dir>/conf/logback_<kind>.xml (the 5.x jars carry their own).
            conf = self.cluster.state_dir / "conf"
            conf.mkdir(parents=True, exist_ok=True)
            shutil.copy(install.conf_dir / f"logback_{kind}.xml", conf / f"logback_{kind}.xml")
            if self.is_broker and self.cluster.secure:
                (conf / "plain_acl.yml").write_text(PLAIN_ACL_V4)
        opens = JVM_4X_OPENS if install.major == 4 else []
        in_namespace = self.cluster.network.exec_prefix(self.name) if self.cluster.network is not None else []
        cmd = (in_namespace + [java] + COMMON_JVM + opens + heap + secure_jvm + self.cluster.mtls_jvm(self)
               + [self.tag, f"-Duser.home={self.home}", f"-Drocketmq.home.dir={self.cluster.state_dir}",
                  f"-Drmq.logback.configurationFile={install.logback_config(kind)}",
                  "-cp", install.classpath(), main, "-c", str(self.conf_file)])
        self._spawn(cmd)

    def _spawn(self, cmd):
        """Starts the JVM detached, its output appended to stdout.log, and records its pid."""
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

    def registered_in(self, registered):
        """The NameServer lists this broker under its group and id (a slave under id 1)."""
        return registered.get(self.group, {}).get(str(self.broker_id)) == self.addr

    def broker_conf(self):
        store = self.store
        deployment = self.cluster.deployment
        conf = [
            ("brokerClusterName", CLUSTER_NAME),
            ("brokerName", self.group),
            ("brokerId", self.broker_id),
            ("brokerRole", self.role),
            ("flushDiskType", deployment.flush_disk_type),
            ("namesrvAddr", self.cluster.namesrv_addr),
            ("brokerIP1", self.host),
            ("brokerIP2", self.host),
            ("listenPort", self.port),
            ("haListenPort", self.port + 1),
            ("storePathRootDir", store),
            ("storePathCommitLog", store / "commitlog"),
            ("autoCreateTopicEnable", "true"),
            ("autoCreateSubscriptionGroup", "true"),
            ("enablePropertyFilter", "true"),
            # A send that waits over 200 ms (the default) in the broker's send queue is dropped by
            # its fast failure: answered SYSTEM_BUSY, or, for a oneway, dropped without a trace.
            # A starved CI machine makes such waits, so allow the client's whole send budget.
            ("waitTimeMillsInSendQueue", 3000),
        ]
        # No haMasterAddress for a slave: 5.3.3 applies a configured one before its HA client exists
        # and then stops taking the address from the NameServer, so it never connects ("connect to
        # master null"). Without it the slave takes the master's HA address (brokerIP2:listenPort+1)
        # from each registration reply.
        if self.is_slave:
            # A 5.x slave rejects every pull ("[REJECTREQUEST]system busy", code 2) unless this is
            # on, so its copy could not be read while its master is down. Set on slaves only: on a
            # master it would also send lagging consumers to the slave.
            conf.append(("slaveReadEnable", "true"))
        if deployment.master_role == "SYNC_MASTER" and self.cluster.install.major >= 5:
            # A 5.x SYNC_MASTER waits for inSyncReplicas - 1 slaves; with the default 1 it never waits.
            conf += [("totalReplicas", 2), ("inSyncReplicas", 2)]
        if self.cluster.install.major >= 5:
            # Recall of timer messages (5.3.2+) is off by default; older brokers ignore the key.
            conf.append(("recallMessageEnable", "true"))
        # Message trace: the broker creates RMQ_SYS_TRACE_TOPIC at start (4.9.x and 5.x).
        conf.append(("traceTopicEnable", "true"))
        secure = []
        if self.cluster.secure:
            secure = SECURE_V4_BROKER_CONF if self.cluster.install.major == 4 else SECURE_BROKER_CONF
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


class Deployment:
    """What runs on a port base: topology, RocketMQ version, master role and flush mode. Kept in
    <state>/deployment.json from a cold `up` on, so every later command of that base (tools, admin,
    broker restarts) uses the same jars and settings."""

    def __init__(self, topology="masters", version=ROCKETMQ_VERSION, role=None, flush="async", netns=False,
                 mtls=False):
        if topology not in TOPOLOGIES:
            raise ClusterError(f"unknown topology '{topology}' (expected one of: {', '.join(TOPOLOGIES)})",
                               exit_code=64)
        parse_version(version)
        if topology == "controller":
            check_controller_deployment(version, role)
        if topology == "proxy" and parse_version(version)[0] != 5:
            raise ClusterError("--topology proxy needs RocketMQ 5.x (the Proxy came with 5.0)", exit_code=64)
        if role is None:
            role = "sync" if topology in ("master-slave", "controller") else "async"
        if role not in ("sync", "async"):
            raise ClusterError(f"--role expects sync or async, got '{role}'", exit_code=64)
        if role == "sync" and topology not in ("master-slave", "controller"):
            raise ClusterError("--role sync needs slaves: use it with --topology master-slave", exit_code=64)
        if flush not in ("sync", "async"):
            raise ClusterError(f"--flush expects sync or async, got '{flush}'", exit_code=64)
        if netns and topology == "proxy":
            raise ClusterError("--netns (a network namespace per server) is not available for --topology proxy",
                               exit_code=64)
        if mtls and (topology != "masters" or netns):
            raise ClusterError("--mtls is available for --topology masters only, without --netns", exit_code=64)
        self.topology, self.version, self.role, self.flush = topology, version, role, flush
        self.netns = bool(netns)
        self.mtls = bool(mtls)

    @property
    def master_role(self):
        return "SYNC_MASTER" if self.role == "sync" else "ASYNC_MASTER"

    @property
    def flush_disk_type(self):
        return "SYNC_FLUSH" if self.flush == "sync" else "ASYNC_FLUSH"

    def install_major(self):
        return parse_version(self.version)[0]

    def as_dict(self):
        plain = {"topology": self.topology, "version": self.version, "role": self.role, "flush": self.flush}
        return {**plain, **({"netns": True} if self.netns else {}), **({"mtls": True} if self.mtls else {})}

    def __eq__(self, other):
        return isinstance(other, Deployment) and self.as_dict() == other.as_dict()

    def describe(self):
        netns_note = ", a network namespace per server" if self.netns else ""
        mtls_note = ", broker-a alone, requiring client certificates (mutual TLS)" if self.mtls else ""
        return (f"{self.topology}, RocketMQ {self.version}, {self.master_role}, {self.flush_disk_type}"
                f"{netns_note}{mtls_note}")

    @classmethod
    def load(cls, path):
        """The recorded deployment of a port base; the default one when none was recorded."""
        try:
            return cls(**json.loads(Path(path).read_text()))
        except (OSError, ValueError, TypeError):
            return cls()


class Cluster:
    """The servers of one port base and their state folder."""

    def __init__(self, base=None, install=None):
        raw = base if base is not None else os.environ.get("RMQ_PORT_BASE") or DEFAULT_PORT_BASE
        try:
            self.base = int(raw)
        except ValueError:
            raise ClusterError(f"port base must be a number, got '{raw}'", exit_code=64) from None
        if not 1024 <= self.base <= 65535 - 252:
            raise ClusterError(f"port base {self.base} is out of range (1024..{65535 - 252})")
        cache = install.cache if install is not None else Install().cache
        self.state_dir = cache / "cluster" / str(self.base)
        self.store_dir = store_root(self.state_dir)
        # Present while the cluster of this base is a secure one (kept across broker restarts).
        self.secure_marker = self.state_dir / "secure"
        # The certificates, keys and tls.config.files of an `up --mtls` cluster.
        self.tls_dir = self.state_dir / "tls"
        self.deployment_file = self.state_dir / "deployment.json"
        # Written by an `up --netns` that could not make namespaces: why (the servers run on loopback).
        self.netns_unavailable_file = self.state_dir / "netns-unavailable"
        self._use(Deployment.load(self.deployment_file), install)

    def _use(self, deployment, install=None):
        """Builds the members (and picks the jars) of a deployment."""
        self.deployment = deployment
        if install is None or install.version != deployment.version:
            install = Install(install.cache if install is not None else None, deployment.version)
        self.install = install
        self.network = None
        if deployment.netns and not self.netns_unavailable_file.exists():
            self.network = netns.Network(self.base)
        self.namesrv = Member(self, "namesrv", self.base)
        self.brokers = {}  # the masters, by group name
        self.slaves = {}  # the slaves, by group name
        self.proxy = ProxyMember(self) if deployment.topology == "proxy" else None
        # Controller mode: one group whose master the controller elects (see ControllerGroup).
        self.controller = ControllerGroup(self) if deployment.topology == "controller" else None
        if self.controller is not None:
            self.namesrv = self.controller.namesrv
            return
        for i, group in enumerate(MTLS_BROKERS if deployment.mtls else BROKERS):
            port = self.base + 100 * (i + 1)
            self.brokers[group] = Member(self, group, port, group=group)
            if deployment.topology == "master-slave":
                self.slaves[group] = Member(self, group + SLAVE_SUFFIX, port + SLAVE_PORT_OFFSET, group=group,
                                            broker_id=1)

    @property
    def namesrv_addr(self):
        return self.namesrv.addr

    @property
    def client_addr(self):
        """The name server clients are given: the Proxy's remoting port when there is one (it
        answers route requests itself), else the NameServer."""
        return self.proxy.addr if self.proxy else self.namesrv_addr

    @property
    def secure(self):
        return self.secure_marker.exists()

    def members(self):
        return [self.namesrv] + self.broker_members() + ([self.proxy] if self.proxy else [])

    def groups(self):
        """The broker names (groups) of the deployment."""
        return [self.controller.group] if self.controller is not None else list(self.brokers)

    def broker_members(self):
        """Masters and slaves, each master followed by its slave."""
        if self.controller is not None:
            return list(self.controller.replicas)
        members = []
        for group in self.brokers:
            members.append(self.brokers[group])
            if group in self.slaves:
                members.append(self.slaves[group])
        return members

    def broker(self, name):
        for member in self.broker_members():
            if member.name == name:
                return member
        names = ", ".join(m.name for m in self.broker_members())
        raise ClusterError(f"unknown broker '{name}' (expected one of: {names})", exit_code=64)

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
        """Broker name -> {broker id (str) -> address} as the NameServer knows them ({} when it cannot
        be asked)."""
        try:
            table = cluster_info(self.namesrv_addr).get("brokerAddrTable") or {}
        except (ValueError, ClusterError):
            return {}
        return {name: {str(k): v for k, v in (data.get("brokerAddrs") or {}).items()}
                for name, data in table.items()}

    def is_registered(self, broker, registered=None):
        """The NameServer lists the broker under its group and id (a slave under id 1)."""
        registered = self.registered_brokers() if registered is None else registered
        return broker.registered_in(registered)

    def ha_connected(self, slave):
        """The slave holds a TCP connection to its master's HA port (it connects only once it runs
        as a slave, and drops it when the master goes away)."""
        master = self.brokers[slave.group]
        # Every connection to that port is a slave's: the master serves only HA there. Seen from
        # the slave's namespace, which under `up --netns` is not this one.
        return bool(established_connections_to(master.port + 1, slave.pid() or "self"))

    def ready(self, member, registered=None):
        if not member.is_broker:
            return member.running()
        if not (member.running() and self.is_registered(member, registered)):
            return False
        # A slave restarted while its master is down cannot connect; it is ready once registered.
        return not member.is_slave or not self.brokers[member.group].running() or self.ha_connected(member)

    def healthy(self):
        if not all(m.running() for m in self.members()):
            return False
        registered = self.registered_brokers()
        return (all(self.ready(b, registered) for b in self.broker_members())
                and (self.controller is None or self.controller.has_master(registered))
                and (self.proxy is None or self.proxy.serves_routes()))

    # -- lifecycle -----------------------------------------------------------------------------

    def up(self, secure=False, deployment=None):
        require_java()
        deployment = deployment or Deployment()
        if secure and deployment.topology != "masters":
            raise ClusterError("--secure (TLS + ACL) is available for --topology masters only", exit_code=64)
        if secure and deployment.mtls:
            raise ClusterError("--mtls and --secure are separate clusters: give one", exit_code=64)
        with self.lock():
            cold = not any(m.running() for m in self.members())
            if not cold and secure != self.secure:
                have, want = ("secure", "plain") if self.secure else ("plain", "secure")
                raise ClusterError(f"the cluster of port base {self.base} is running {have}; run `down` "
                                   f"before starting it {want}")
            if not cold and deployment != self.deployment:
                raise ClusterError(f"the cluster of port base {self.base} is running "
                                   f"{self.deployment.describe()}; run `down` before starting "
                                   f"{deployment.describe()}")
            if self.healthy():
                return self.client_addr
            if cold:
                self._wipe_state()  # also the folders of a previous deployment's other servers
                self._use(deployment, self.install)
            self.install.fetch()
            if self.proxy:
                self.proxy.install.fetch()
            if cold:
                self._wipe_state()
                self.state_dir.mkdir(parents=True, exist_ok=True)
                self.deployment_file.write_text(json.dumps(deployment.as_dict()) + "\n")
                if secure:
                    self.secure_marker.write_text(f"{SECURE_ACCESS_KEY}\n")
                else:
                    self.secure_marker.unlink(missing_ok=True)
                shutil.rmtree(self.tls_dir, ignore_errors=True)
                if deployment.mtls:
                    self._make_mtls_files()
                self._make_network()
                self._warn_if_store_nearly_full()
            to_start = [m for m in self.members() if not m.running()]
            self._check_ports(to_start)
            started = []
            try:
                for member in to_start:
                    if member is self.proxy:
                        # The Proxy creates its system topics on the brokers as it starts, and
                        # exits when it cannot.
                        for broker in self.broker_members():
                            self._wait_registered(broker)
                        self._check_ports([member])  # again: the brokers took a while
                    member.start()
                    started.append(member)
                    if not member.is_broker:
                        self._wait_namesrv_ready()
                # Brokers that were already running re-register within 30 s if the NameServer is new.
                for broker in self.broker_members():
                    self._wait_registered(broker)
                if self.controller is not None:
                    self.controller.wait_ready()
                if self.proxy:
                    self._wait(self.proxy, "serving routes of both brokers", self.proxy.serves_routes)
            except BaseException:
                # Nothing of value is in a cluster that failed to come up: no graceful shutdown.
                for member in reversed(started):
                    with contextlib.suppress(ClusterError):
                        member.kill()
                if cold:
                    netns.Network(self.base).remove_all()
                raise
        return self.client_addr

    def down(self):
        with self.lock():
            # Brokers take several seconds each to shut down: let them do it side by side, and
            # keep the NameServer up meanwhile so they can unregister.
            servers = [m for m in self.members() if m is not self.namesrv]
            for server in servers:
                server.send_signal(signal.SIGTERM)
            for server in servers:
                server.stop(signalled=True)
            self.namesrv.stop()
            # Whatever the recorded deployment: also a crashed run's namespaces of this base.
            netns.Network(self.base).remove_all()
            self._wipe_stores()  # often memory: give it back

    def start_broker(self, name):
        broker = self.broker(name)
        # Held while starting only: other servers may be paused or resumed while this one comes up.
        with self.lock():
            if not self.namesrv.running():
                raise ClusterError(f"the NameServer of port base {self.base} is not running (run `up` first)")
            started = not broker.running()
            if started:
                self.install.fetch()
                self._check_ports([broker])
                broker.start()
        if not started:
            self._wait_registered(broker)
            return
        try:
            self._wait_registered(broker)
            if self.controller is not None:
                self.controller.wait_in_sync(broker)
        except BaseException:
            with contextlib.suppress(ClusterError):
                broker.kill()
            raise
        # A restarted master's group is whole again once its slave has reconnected to it.
        slave = self.slaves.get(broker.group)
        if not broker.is_slave and slave is not None and slave.running():
            self._wait(slave, "reconnected to its master's HA port", lambda: self.ha_connected(slave))

    def stop_broker(self, name):
        with self.lock():
            self.broker(name).stop()

    def kill_broker(self, name):
        with self.lock():
            self.broker(name).kill()

    def kill_namesrv(self):
        """SIGKILL the NameServer (under --topology controller, the controller inside it too)."""
        with self.lock():
            self.namesrv.kill()

    def start_namesrv(self):
        """Starts a killed NameServer again; the brokers register with it within 30 s."""
        with self.lock():
            if self.namesrv.running():
                return
            self._check_ports([self.namesrv])
            self.namesrv.start()
            self._wait_namesrv_ready()

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

    # -- network namespaces (`up --netns`; see netns.py) -----------------------------------------

    def _make_network(self):
        """On a cold `up`: removes a crashed run's namespaces of this base, then makes those of an
        `up --netns`; where they cannot be made, says why in one line and runs on loopback."""
        self.netns_unavailable_file.unlink(missing_ok=True)
        network = netns.Network(self.base)
        network.remove_all()
        self.network = None
        if not self.deployment.netns:
            return
        try:
            network.create([m.name for m in self.members()])
        except netns.NetnsError as e:
            self.netns_unavailable_file.write_text(f"{e}\n")
            progress(f"network namespaces unavailable ({e}): the servers run on loopback; "
                     f"partition/heal will refuse")
            return
        self.network = network

    def _check_partitionable(self, name):
        """NAME is a server (namesrv or a broker) of a deployment whose servers have namespaces."""
        names = [m.name for m in self.members()]
        if name not in names:
            raise ClusterError(f"unknown server '{name}' (expected one of: {', '.join(names)})", exit_code=64)
        if not self.deployment.netns:
            raise ClusterError(f"partition/heal need servers in network namespaces: the cluster of port base "
                               f"{self.base} runs on loopback (start it with `up --netns`)", exit_code=64)
        if self.network is None:
            reason = self.netns_unavailable_file.read_text().strip()
            raise ClusterError(f"network namespaces unavailable ({reason}): the servers run on loopback")
        if self.network.root_link(name) not in self.network.links():
            raise ClusterError(f"{name} of port base {self.base} has no network link: is the cluster up?")

    def partition(self, name):
        """The server's link goes down: its packets vanish, its TCP connections stay half-open."""
        self._check_partitionable(name)
        self._run_netns(self.network.partition, name)

    def heal(self, name):
        self._check_partitionable(name)
        self._run_netns(self.network.heal, name)

    @staticmethod
    def _run_netns(action, name):
        # One `ip link set`: atomic, so no lock; the servers keep running either way.
        try:
            action(name)
        except netns.NetnsError as e:
            raise ClusterError(str(e)) from None

    def _make_mtls_files(self):
        """The test PKI and the tls.config.files of the servers and the Java tools (`up --mtls`).
        Test mode off (it would show a self-signed certificate and accept any client); the broker
        requires a client certificate and checks it against the CA, the NameServer asks for none."""
        make_test_pki(self.tls_dir)
        tls = self.tls_dir
        server = [("tls.test.mode.enable", "false"), ("tls.server.keyPath", tls / "server.key"),
                  ("tls.server.certPath", tls / "server.pem")]
        tls_properties(tls / "namesrv.properties", server + [("tls.server.need.client.auth", "none")])
        tls_properties(tls / "broker.properties", server + [
            ("tls.server.need.client.auth", "require"), ("tls.server.authClient", "true"),
            ("tls.server.trustCertPath", tls / MTLS_FILES["ca"])])
        tls_properties(tls / "tools.properties", [
            ("tls.test.mode.enable", "false"), ("tls.client.keyPath", tls / MTLS_FILES["key"]),
            ("tls.client.certPath", tls / MTLS_FILES["cert"]), ("tls.client.authServer", "true"),
            ("tls.client.trustCertPath", tls / MTLS_FILES["ca"])])

    def mtls_jvm(self, member=None):
        """The TLS system properties of a server (member) or of the Java tools (none), `up --mtls`."""
        if not self.deployment.mtls:
            return []
        if member is None:
            return ["-Dtls.enable=true", f"-Dtls.config.file={self.tls_dir / 'tools.properties'}"]
        if member.is_broker:
            return ["-Dtls.server.mode=enforcing", f"-Dtls.config.file={self.tls_dir / 'broker.properties'}"]
        return [f"-Dtls.config.file={self.tls_dir / 'namesrv.properties'}"]

    def mtls_files(self):
        """Name -> path of the client-side files of an `up --mtls` cluster (MTLS_FILES)."""
        return {name: self.tls_dir / file for name, file in MTLS_FILES.items()}

    def _wipe_state(self):
        for member in self.members():
            shutil.rmtree(member.dir, ignore_errors=True)
        self._wipe_stores()

    def _wipe_stores(self):
        shutil.rmtree(self.store_dir, ignore_errors=True)

    def _warn_if_store_nearly_full(self):
        self.store_dir.mkdir(parents=True, exist_ok=True)
        used = used_ratio(self.store_dir)
        if used >= STORE_CLEAN_RATIO:
            progress(f"warning: the brokers' stores are on a file system {used:.0%} full ({self.store_dir}); "
                     f"a broker deletes commit-log files above {STORE_CLEAN_RATIO:.0%} and refuses writes "
                     f"above {STORE_FULL_RATIO:.0%} (set RMQ_STORE_DIR to a roomier folder)")

    def _check_ports(self, members):
        if self.network is not None:
            return  # each server has a namespace, and so ports, of its own
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
        self._wait(self.namesrv, "accepting connections",
                   lambda: all(port_accepts(port, host=self.namesrv.host) for port in self.namesrv.ports()))

    def _wait_registered(self, broker):
        what = "registered with the NameServer" + (" and connected to its master's HA port"
                                                    if broker.is_slave else "")
        self._wait(broker, what, lambda: self._booted_and_registered(broker))

    def _booted_and_registered(self, broker):
        # A broker just started by us must also say it booted: the NameServer may still list the
        # address of its previous run for a moment.
        if broker.started_here() and "boot success" not in broker.output_since_start():
            return False
        return self.ready(broker)

    # -- topics --------------------------------------------------------------------------------

    def create_topic(self, topic, queues=8, order=False, message_type=None, group=None):
        """The topic on every group, or on `group` alone (its master's address asked of the
        NameServer), then waits until the NameServer's route lists them."""
        self.require_namesrv()
        if group is not None and group not in self.groups():
            raise ClusterError(f"no broker group {group} (groups: {', '.join(self.groups())})")
        args = ["updateTopic", "-t", topic, "-r", str(queues), "-w", str(queues)]
        if order:
            args += ["-o", "true"]
        if message_type:
            # 5.x topic attribute; the Proxy accepts only messages of the topic's type.
            args += ["-a", f"+message.type={message_type}"]
        expected, present = set([group] if group else self.groups()), set()
        # The NameServer may drop a group after it was listed (a partition's FIN can arrive seconds
        # after the heal), and mqadmin then skips it: each round waits until every group is listed
        # and asks again (updateTopic is idempotent).
        for _ in range(ROUTE_ROUNDS):
            self._wait_groups_listed()
            target = ["-c", CLUSTER_NAME]
            if group is not None:
                master = self.registered_brokers().get(group, {}).get("0")
                if master is None:
                    raise ClusterError(f"the NameServer lists no master of {group}")
                target = ["-b", master]
            self._update_topic(topic, args + target)
            deadline = time.monotonic() + ROUTE_TIMEOUT_S / ROUTE_ROUNDS
            while time.monotonic() < deadline:
                route = topic_route(self.namesrv_addr, topic)
                present = {q["brokerName"] for q in (route or {}).get("queueDatas", [])
                           if q.get("writeQueueNums") == queues}
                if present >= expected:
                    return route
                time.sleep(0.2)
        raise ClusterError(f"topic {topic} created but the NameServer route lists only "
                           f"{sorted(present) or 'no broker'} after {int(ROUTE_TIMEOUT_S)} s")

    def _update_topic(self, topic, args):
        for _ in range(ADMIN_TIMEOUT_ATTEMPTS):
            proc = self.run_java_admin(args, capture=True)
            output = proc.stdout.decode(errors="replace")
            # updateTopic is idempotent: a timeout or a failed write (mqadmin's client waits 3 s
            # per call; a cold TLS handshake of a starved JVM can take longer) is worth another try.
            if not any(e in output for e in ADMIN_TRANSIENT_ERRORS):
                break
        if proc.returncode != 0 or "success" not in output:
            raise ClusterError(f"updateTopic {topic} failed (exit {proc.returncode}): "
                               f"{explain(output)}")

    def _wait_groups_listed(self):
        """updateTopic -c reaches the masters the NameServer lists, and no other: a group with a
        running broker is waited for until it is listed with a master (after a partition the
        NameServer forgets a broker until its next registration)."""
        begin = time.monotonic()
        deadline = begin + REGISTRATION_TIMEOUT_S
        while True:
            registered = self.registered_brokers()
            missing = [group for group in self.groups() if "0" not in registered.get(group, {})
                       and any(m.running() for m in self.broker_members() if m.group == group)]
            if not missing:
                if time.monotonic() - begin > 1:
                    print(f"rmq-cluster: waited {time.monotonic() - begin:.1f} s for every group to be "
                          f"listed by the NameServer", file=sys.stderr)
                return
            if time.monotonic() > deadline:
                raise ClusterError(f"the NameServer lists no master of {', '.join(missing)} after "
                                   f"{int(REGISTRATION_TIMEOUT_S)} s, though its brokers run")
            time.sleep(0.5)

    def require_namesrv(self):
        if not port_accepts(self.base, timeout=2.0, host=self.namesrv.host):
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
                # A 4.9 client logs through plain logback, which prints to stdout unless configured.
                + ([f"-Dlogback.configurationFile={self.install.conf_dir / 'logback_tools.xml'}"]
                   if self.install.major == 4 else [])
                + jvm_props + ["-cp", self.install.classpath(with_tool=with_tool), main] + list(args))

    def run_java_admin(self, args, capture=False):
        """Runs mqadmin; `-n <namesrv>` is added unless given (every mqadmin subcommand accepts it)."""
        self.install.fetch()
        args = list(args)
        if args and args[0] not in ("help", "-h", "--help") and "-n" not in args:
            self.require_namesrv()
            args += ["-n", self.namesrv_addr]
        props = self._admin_secure_props() + self.mtls_jvm()
        if self.install.major == 4 and not self.secure:
            props = props + [f"-Drocketmq.home.dir={self.install.home}"]  # conf/logback_tools.xml
        cmd = self._java_cmd(props, "org.apache.rocketmq.tools.command.MQAdminStartup", args, logback="tools")
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE if capture else None,
                              stderr=subprocess.STDOUT if capture else None)

    def run_tool(self, args):
        """Runs the Java reader/sender (java/RmqTool.java); its stdout is JSON lines."""
        self.install.fetch()
        self.require_namesrv()
        props = ([f"-Drmq.tool.namesrv={self.namesrv_addr}"] + (SECURE_TOOL_JVM if self.secure else [])
                 + self.mtls_jvm())
        cmd = self._java_cmd(props, "RmqTool", args, with_tool=True)
        env = dict(os.environ)
        if self.secure and not (env.get("RMQ_TOOL_ACCESS_KEY") and env.get("RMQ_TOOL_SECRET_KEY")):
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
        if self.install.major == 4:
            # 4.x mqadmin reads its logback file from the same home as tools.yml.
            shutil.copy(self.install.conf_dir / "logback_tools.xml", home / "conf" / "logback_tools.xml")
        return SECURE_TOOL_JVM + [f"-Drocketmq.home.dir={home}"]

    # -- reporting -----------------------------------------------------------------------------

    def status_lines(self):
        registered = self.registered_brokers()
        lines = [f"deployment: {self.deployment.describe()}" + (", secure" if self.secure else "")]
        if self.network is not None:
            lines.append(f"network: namespaces {self.network.prefix}*, bridge {self.network.bridge} "
                         f"{self.network.gateway}/24")
        elif self.netns_unavailable_file.exists():
            lines.append(f"network: loopback (namespaces unavailable: "
                         f"{self.netns_unavailable_file.read_text().strip()})")
        for m in self.members():
            state = f"running (pid {m.pid()})" if m.running() else "stopped"
            extra = ""
            if m is self.proxy:
                extra = f"proxy of {self.namesrv_addr}, " + ("serving routes" if m.serves_routes()
                                                              else "not serving routes")
            if m.is_broker:
                extra = f"{m.role:<12} " + ("registered" if self.is_registered(m, registered) else "not registered")
                if m.is_slave:
                    extra += ", ha connected" if self.ha_connected(m) else ", ha not connected"
            if self.network is not None and self.network.partitioned(m.name):
                state += ", partitioned"
            lines.append(f"{m.name:<10} {m.addr:<16} {state:<22} {extra}".rstrip())
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
# Controller mode (5.x): a controller inside the NameServer elects the master of one group of three
# brokers, broker-a-0..2, and promotes another when the master dies. The brokers' ids and roles
# are the controller's choice: the master registers at the NameServer as id 0, each slave under the
# id the controller gave it (1, 2, 3, in order of first registration).

CONTROLLER_GROUP = "broker-a"
CONTROLLER_REPLICAS = 3
CONTROLLER_PORT_OFFSET = 2  # the controller (DLedger) port beside the NameServer's, as 9878 beside 9876
CONTROLLER_REPLICA_SPACING = 10  # broker-a-i listens at base + 100 + 10 i
CONTROLLER_GET_REPLICA_INFO = 1004
FAILOVER_TIMEOUT_S = 60.0


def check_controller_deployment(version, role):
    if parse_version(version)[0] < 5:
        raise ClusterError(f"--topology controller needs RocketMQ 5.x (controller mode came with 5.0), "
                           f"got --version {version}", exit_code=64)
    if role not in (None, "sync"):
        raise ClusterError("--role does not apply to --topology controller: the controller elects the "
                           "master, which runs as SYNC_MASTER", exit_code=64)


class ControllerNamesrv(Member):
    """The NameServer with the controller inside (one DLedger peer, so it leads alone)."""

    @property
    def controller_addr(self):
        return f"{self.host}:{self.port + CONTROLLER_PORT_OFFSET}"

    def ports(self):
        return [self.port, self.port + CONTROLLER_PORT_OFFSET]

    def namesrv_conf(self):
        return super().namesrv_conf() + [
            ("enableControllerInNamesrv", "true"),
            ("controllerDLegerGroup", "group1"),
            ("controllerDLegerSelfId", "n0"),
            ("controllerDLegerPeers", f"n0-{self.controller_addr}"),
            ("controllerStorePath", self.dir / "controller"),
            # The controller's DLedger log (1 GiB files by default) holds a few small events.
            ("mappedFileSize", 67108864),
        ]


class ControllerBroker(Member):
    """A broker of the controller's group: it starts as a candidate (brokerId -1, SLAVE) and is
    made master or slave by the controller."""

    def __init__(self, cluster, name, port, group):
        super().__init__(cluster, name, port, group=group, broker_id=-1)

    @property
    def role(self):
        registered = self.cluster.registered_brokers().get(self.group, {})
        return "SYNC_MASTER" if registered.get("0") == self.addr else "SLAVE"

    def registered_in(self, registered):
        """Registered under any id: the controller picks it."""
        return self.addr in registered.get(self.group, {}).values()

    def broker_conf(self):
        conf = dict(super().broker_conf())
        # No fixed replica counts: the master waits for every member of the group's SyncStateSet
        # instead (a member leaves it when its HA connection closes, or after 15 s of lag), and
        # only SyncStateSet members can be elected, so an acknowledged message survives its
        # master's death.
        conf.pop("totalReplicas", None)
        conf.pop("inSyncReplicas", None)
        conf.update({
            "brokerId": -1,
            "brokerRole": "SLAVE",
            "enableControllerMode": "true",
            "controllerAddr": self.cluster.namesrv.controller_addr,
            "allAckInSyncStateSet": "true",
            # Readers may pull from a slave while the master is away.
            "slaveReadEnable": "true",
        })
        conf.update(extra_broker_conf())
        return list(conf.items())


class ControllerGroup:
    """The NameServer-with-controller and the brokers of one controller-mode group."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.group = CONTROLLER_GROUP
        self.namesrv = ControllerNamesrv(cluster, "namesrv", cluster.base)
        self.replicas = [ControllerBroker(cluster, f"{self.group}-{i}",
                                          cluster.base + 100 + CONTROLLER_REPLICA_SPACING * i, self.group)
                         for i in range(CONTROLLER_REPLICAS)]

    def master(self, registered=None):
        """The member registered as id 0, or None."""
        registered = self.cluster.registered_brokers() if registered is None else registered
        addr = registered.get(self.group, {}).get("0")
        return next((m for m in self.replicas if m.addr == addr), None)

    def has_master(self, registered=None):
        return self.master(registered) is not None

    def sync_state_set(self):
        """The controller ids of the group's in-sync replicas (empty when it cannot be asked)."""
        try:
            code, _, body = remoting_call(self.namesrv.controller_addr, CONTROLLER_GET_REPLICA_INFO,
                                          {"brokerName": self.group})
        except ClusterError:
            return set()
        if code != 0 or not body:
            return set()
        return set(tolerant_json(body).get("syncStateSet") or [])

    def all_in_sync(self):
        """Every running replica registered, one of them master, all in the SyncStateSet."""
        registered = self.cluster.registered_brokers()
        running = [m for m in self.replicas if m.running()]
        return (self.has_master(registered) and all(m.registered_in(registered) for m in running)
                and len(self.sync_state_set()) == len(running))

    def route_ready(self):
        route = topic_route(self.cluster.namesrv_addr, "TBW102") or {}
        return (any(b.get("brokerName") == self.group and "0" in (b.get("brokerAddrs") or {})
                    for b in route.get("brokerDatas", []))
                and any(q.get("brokerName") == self.group for q in route.get("queueDatas", [])))

    def wait_ready(self):
        """After every broker registered: a master elected, every replica in sync, routes served."""
        self.cluster._wait(self.namesrv, f"electing a master of {self.group} with every replica in sync",
                           lambda: self.all_in_sync() and self.route_ready())

    def wait_in_sync(self, broker):
        """A restarted replica is back once the master counts it in sync again."""
        self.cluster._wait(broker, "back in the SyncStateSet", self.all_in_sync)

    def failover(self, group):
        """SIGKILLs the master of the group and waits until the controller has another one
        registered as id 0. Returns (killed, new master, seconds from the kill)."""
        if group != self.group:
            raise ClusterError(f"unknown group '{group}' (the controller deployment has one: {self.group})",
                               exit_code=64)
        with self.cluster.lock():
            old = self.master()
            if old is None:
                raise ClusterError(f"{group} has no master now (run `status`)")
            started = time.monotonic()
            old.kill()
            deadline = started + FAILOVER_TIMEOUT_S
            while True:
                new = self.master()
                if new is not None and new is not old:
                    return old, new, time.monotonic() - started
                if time.monotonic() > deadline:
                    raise ClusterError(f"no new master of {group} registered {int(FAILOVER_TIMEOUT_S)} s after "
                                       f"{old.name} was killed; see {self.namesrv.stdout_file}")
                time.sleep(0.05)


# ------------------------------------------------------------------------------------------------
# The 5.x Proxy (topology `proxy`): in cluster mode in front of the `masters` cluster


PROXY_REMOTING_OFFSET = 80  # remoting (and, sniffed, gRPC) at BASE+80
PROXY_GRPC_OFFSET = 81  # gRPC at BASE+81
PROXY_JVM = ["-Xms128m", "-Xmx256m", "-XX:MaxDirectMemorySize=128m", "-XX:+UseG1GC"]
# A topic every broker has from the start (autoCreateTopicEnable): its route through the Proxy
# tells that the Proxy reaches the NameServer and serves both groups.
PROXY_PROBE_TOPIC = "TBW102"


class ProxyInstall(Install):
    """The Proxy's jars (rocketmq-proxy with all its dependencies) in rocketmq-<version>/proxy-lib,
    from proxy-pom.xml: a pom of their own, so that existing caches of the servers stay valid."""

    def __init__(self, cache_dir=None, version=ROCKETMQ_VERSION):
        super().__init__(cache_dir, version)
        self.pom = PROXY_POM
        self.lib = self.home / "proxy-lib"
        self.marker = self.home / "proxy-fetched.ok"
        self.mvn_log = self.home / "proxy-mvn.log"

    def _tool_stale(self):
        return False  # the Java tool is the servers' install's

    def _write_logback_configs(self):
        pass  # the Proxy reads rmq.proxy.logback.xml from its jar


class ProxyMember(Member):
    """The Proxy JVM (org.apache.rocketmq.proxy.ProxyStartup, cluster mode) in front of the
    NameServer and brokers of its base."""

    def __init__(self, cluster):
        super().__init__(cluster, "proxy", cluster.base + PROXY_REMOTING_OFFSET)
        self.grpc_port = cluster.base + PROXY_GRPC_OFFSET
        self.conf_file = self.dir / "rmq-proxy.json"
        self.install = ProxyInstall(cluster.install.cache, cluster.install.version)

    def ports(self):
        return [self.port, self.grpc_port]

    def proxy_conf(self):
        return {
            "rocketMQClusterName": CLUSTER_NAME,
            "proxyMode": "cluster",
            "namesrvAddr": self.cluster.namesrv_addr,
            # Else the first non-loopback address is written into every route it serves.
            "localServeAddr": "127.0.0.1",
            "remotingListenPort": self.port,
            "grpcServerPort": self.grpc_port,
        }

    def start(self):
        java = require_java()
        self.dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        self.conf_file.write_text(json.dumps(self.proxy_conf(), indent=2) + "\n")
        cmd = ([java] + COMMON_JVM + PROXY_JVM
               + [self.tag, f"-Duser.home={self.home}", "-cp", self.install.classpath(),
                  "org.apache.rocketmq.proxy.ProxyStartup", "-pc", str(self.conf_file), "-pm", "cluster"])
        self._spawn(cmd)

    def serves_routes(self):
        """The Proxy answers the probe topic's route with both groups, each at its own address."""
        if not self.running():
            return False
        try:
            route = topic_route(self.addr, PROXY_PROBE_TOPIC) or {}
        except ClusterError:
            return False
        addrs = {b.get("brokerName"): set((b.get("brokerAddrs") or {}).values())
                 for b in route.get("brokerDatas", [])}
        return addrs == {group: {self.addr} for group in BROKERS}

    def log_files(self):
        return [self.stdout_file, self.home / "logs" / "rocketmqlogs" / "proxy.log"]


# ------------------------------------------------------------------------------------------------
# Command line

USAGE = """usage: rmq-cluster [--port-base N] COMMAND [ARGS...]

Local Apache RocketMQ cluster: NameServer at 127.0.0.1:BASE, groups broker-a (BASE+100) and
broker-b (BASE+200); with --topology master-slave their slaves broker-a-s (BASE+150) and
broker-b-s (BASE+250); with --topology controller (5.x) one group broker-a of three brokers
broker-a-0, broker-a-1, broker-a-2 (BASE+100, +110, +120) whose master the controller (inside the
NameServer, at BASE+2) elects. BASE comes from --port-base, else $RMQ_PORT_BASE, else 19876.

commands:
  fetch [--version V]        download the jars (mvn) and compile the Java tool into .cache/
  up [--topology masters|master-slave|controller|proxy] [--version V] [--role sync|async]
     [--flush sync|async] [--secure | --mtls] [--netns]
                             start the cluster (if not already healthy); prints NAMESRV_ADDR=...
                             --topology: masters (default) or master-slave (each master with a
                             slave, brokerId 1) or proxy (5.x: the Proxy at BASE+80, gRPC
                             BASE+81, in front of masters; prints REAL_NAMESRV_ADDR=... too, and
                             NAMESRV_ADDR is the Proxy's); --version: RocketMQ release (default
                             5.3.3; 4.9.7 and 5.5.0 tested); --role: master-slave masters SYNC_MASTER (default) or
                             ASYNC_MASTER; --flush: ASYNC_FLUSH (default) or SYNC_FLUSH.
                             controller: 5.x only; ready once a master is elected and every
                             broker is in sync (allAckInSyncStateSet=true).
                             The deployment is kept for the base until `down`.
                             --secure (masters only): brokers require TLS and signed
                             requests (user rocketmq / 12345678): ACL 2.0 on 5.x, ACL 1.0
                             (aclEnable, plain_acl.yml) on 4.x; the tools below then sign
                             and use TLS
                             --mtls (masters only): broker-a alone, requiring TLS with a client
                             certificate of the test CA the launcher writes into
                             .cache/cluster/BASE/tls/ (the NameServer and broker show a server
                             certificate of it, SAN 127.0.0.1, localhost); prints the files'
                             paths too (TLS_CA_FILE, TLS_CERT_FILE, TLS_KEY_FILE, and
                             TLS_UNTRUSTED_CA_FILE, TLS_UNTRUSTED_CERT_FILE,
                             TLS_UNTRUSTED_KEY_FILE: a CA and client of another CA); the tools
                             below then present the client certificate
                             --netns (not with proxy): each server in a network namespace of its
                             own, at 10.<BASE/256>.<BASE%256>.<10 namesrv, 11 broker-a, 12 broker-b,
                             13 broker-a-s, 14 broker-b-s, 15-17 broker-a-0..2>
                             on a bridge rmq<BASE>-br (root's address .1); needs root
  down                       stop every server of this base
  status                     show servers and registration (exit 0 only when all healthy)
  logs [NAME...] [--lines N] print the tail of the servers' logs
  (NAME: broker-a, broker-b, and the slaves broker-a-s, broker-b-s; controller: broker-a-0..2)
  kill-broker NAME           SIGKILL a broker
  kill-namesrv               SIGKILL the NameServer (controller: the controller inside it too)
  start-namesrv              start a killed NameServer again, wait until it accepts connections
  pause-broker NAME          SIGSTOP a broker (hung: in the routes, answering nothing)
  resume-broker NAME         SIGCONT a paused broker
  stop-broker NAME           SIGTERM a broker and wait until it is gone
  start-broker NAME          start a stopped broker (same store), wait until registered
  failover GROUP             (controller) SIGKILL the master of GROUP, wait until another broker is
                             master; prints {"group","killed","master","addr","seconds"}
  partition NAME             (--netns) NAME's link down: packets vanish, connections stay half-open;
                             NAME: namesrv or a broker
  heal NAME                  (--netns) NAME's link up again
  create-topic TOPIC [--queues N] [--order] [--message-type T] [--on GROUP]
                             create a topic on both brokers (or on GROUP's master alone, e.g.
                             broker-b), wait for its route; T (5.x):
                             the topic's message.type (NORMAL, FIFO, DELAY, TRANSACTION, MIXED)
  route TOPIC                print the NameServer route of a topic as JSON
  broker-info [NAME...]      one JSON line per running broker: name, addr, brokerName, brokerId,
                             brokerRole, flushDiskType, version, commitLogMaxOffset, haConnected
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
             RMQ_START_TIMEOUT_S (seconds each server may take to start, default 120),
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


def run_failover(cluster, group):
    if cluster.controller is None:
        raise ClusterError(f"failover needs the controller deployment; port base {cluster.base} runs "
                           f"{cluster.deployment.topology} (up --topology controller)", exit_code=64)
    killed, master, seconds = cluster.controller.failover(group)
    print(json.dumps({"group": group, "killed": killed.name, "master": master.name, "addr": master.addr,
                      "seconds": round(seconds, 3)}), flush=True)
    return 0


def run_command(command, args, base):
    if command == "fetch":
        version = _take_option(args, "--version", ROCKETMQ_VERSION)
        _exactly(args, [])
        require_java()
        install = Install(version=version)
        install.fetch()
        print(f"RocketMQ {install.version} jars in {install.lib}")
        return 0
    cluster = Cluster(base)
    if command == "up":
        secure = _take_option(args, "--secure", default=False, flag=True)
        deployment = Deployment(topology=_take_option(args, "--topology", "masters"),
                                version=_take_option(args, "--version", ROCKETMQ_VERSION),
                                role=_take_option(args, "--role"), flush=_take_option(args, "--flush", "async"),
                                netns=_take_option(args, "--netns", default=False, flag=True),
                                mtls=_take_option(args, "--mtls", default=False, flag=True))
        _exactly(args, [])
        client_addr = cluster.up(secure, deployment)
        if cluster.proxy:
            # Clients take the Proxy as their name server; the Java tools read from the real one.
            print(f"REAL_NAMESRV_ADDR={cluster.namesrv_addr}")
        if cluster.deployment.mtls:
            # TLS_CA_FILE, TLS_CERT_FILE, ...: the files clients of this cluster need.
            for name, path in cluster.mtls_files().items():
                print(f"TLS_{name.upper()}_FILE={path}")
        print(f"NAMESRV_ADDR={client_addr}", flush=True)
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
    if command in ("kill-namesrv", "start-namesrv"):
        _exactly(args, [])
        (cluster.kill_namesrv if command == "kill-namesrv" else cluster.start_namesrv)()
        return 0
    if command == "failover":
        return run_failover(cluster, _exactly(args, ["GROUP"])[0])
    if command in ("partition", "heal"):
        (name,) = _exactly(args, ["NAME"])
        (cluster.partition if command == "partition" else cluster.heal)(name)
        return 0
    if command == "create-topic":
        queues = _int_option(args, "--queues", 8)
        order = _take_option(args, "--order", default=False, flag=True)
        message_type = _take_option(args, "--message-type")
        group = _take_option(args, "--on")
        (topic,) = _exactly(args, ["TOPIC"])
        cluster.create_topic(topic, queues, order, message_type, group)
        groups = [group] if group else cluster.groups()
        print(f"topic {topic} created with {queues} queue(s) on {', '.join(groups)}")
        return 0
    if command == "route":
        (topic,) = _exactly(args, ["TOPIC"])
        print(json.dumps(cluster.route(topic), sort_keys=True))
        return 0
    if command == "broker-info":
        named = [cluster.broker(name) for name in args]
        # Named brokers must be running; without names, the running ones are listed.
        members = named or [member for member in cluster.broker_members() if member.running()]
        for member in members:
            if not member.running():
                raise ClusterError(f"{member.name} is not running")
            info = {"name": member.name, "addr": member.addr, **broker_info(member.addr)}
            if member.is_slave:
                info["haConnected"] = cluster.ha_connected(member)
            print(json.dumps(info), flush=True)
        return 0
    if command == "admin":
        return cluster.run_java_admin(args).returncode
    if command in TOOL_COMMANDS:
        sys.stdout.flush()
        return cluster.run_tool([command] + args)
    raise ClusterError(f"unknown command '{command}' (see rmq-cluster --help)", exit_code=64)
