"""A throw-away PostgreSQL cluster for tests: initdb into a temporary
directory, postgres on a free 127.0.0.1 port (and a private Unix socket
directory), a password-protected superuser, pg_ctl stop at the end. Nothing
outside the temporary directory is used, so no test depends on a database
the suite did not start.

PostgreSQL refuses to run as root; as root the cluster runs as the
unprivileged "postgres" user that Debian's package creates (or "nobody").
Uses Debian's binaries in /usr/lib/postgresql/<major>/bin."""

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile

USER = "closehook"
START_TIMEOUT_S = 60


class PgError(RuntimeError):
    pass


def bindir():
    """The newest installed server's bin directory, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_as():
    """(uid, gid) to run the server as when we are root, else None."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pw = pwd.getpwnam(name)
            return pw.pw_uid, pw.pw_gid
        except KeyError:
            continue
    raise PgError("running as root and no unprivileged user (postgres, nobody) to run PostgreSQL as")


class PgCluster:
    def __init__(self):
        self.bin = bindir()
        if self.bin is None:
            raise PgError("PostgreSQL is not installed (scripts/deps.sh installs Debian's postgresql)")
        self.password = secrets.token_hex(16)
        self.port = None
        self.root = None
        self.started = False

    # ---- lifecycle -------------------------------------------------------

    def start(self):
        self.root = tempfile.mkdtemp(prefix="closehook-pg.")
        os.chmod(self.root, 0o755)  # the server's user must reach its data directory
        self.data = os.path.join(self.root, "data")
        self.sockdir = os.path.join(self.root, "sock")
        os.mkdir(self.sockdir)
        pwfile = os.path.join(self.root, "pwfile")
        with open(pwfile, "w") as f:
            f.write(self.password + "\n")
        ids = _run_as()
        if ids is not None:
            for path in (self.root, self.sockdir, pwfile):
                os.chown(path, *ids)
        self._pg("initdb", "-D", self.data, "-U", USER, "--pwfile", pwfile, "--auth", "scram-sha-256",
                 "-E", "UTF8", "--no-instructions")
        os.unlink(pwfile)
        self.port = _free_port()
        opts = (f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 -c fsync=on"
                " -c synchronous_commit=on -c max_connections=200")
        self._pg("pg_ctl", "-D", self.data, "-l", os.path.join(self.root, "server.log"), "-o", opts,
                 "-w", "-t", str(START_TIMEOUT_S), "start")
        self.started = True
        return self

    def stop(self):
        if self.started:
            self._pg("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop", check=False)
            self.started = False
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None

    def pause(self):
        """Stops the server, keeping its data: the database goes away."""
        self._pg("pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        self.started = False

    def resume(self):
        """Starts the stopped server again on the same port."""
        opts = (f"-p {self.port} -k {self.sockdir} -c listen_addresses=127.0.0.1 -c fsync=on"
                " -c synchronous_commit=on -c max_connections=200")
        self._pg("pg_ctl", "-D", self.data, "-l", os.path.join(self.root, "server.log"), "-o", opts,
                 "-w", "-t", str(START_TIMEOUT_S), "start")
        self.started = True

    # ---- use -------------------------------------------------------------

    def url(self, dbname="postgres"):
        """A connection URI without the password (closehook takes that from a
        secret reference; libpq from PGPASSWORD)."""
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{dbname}"

    def psql(self, sql, dbname="postgres"):
        """Runs sql with psql over TCP; returns its output (unaligned, tuples only)."""
        env = dict(os.environ, PGPASSWORD=self.password, PGCONNECT_TIMEOUT="10")
        proc = subprocess.run([os.path.join(self.bin, "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                               "-d", self.url(dbname), "-c", sql], env=env, capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            raise PgError(f"psql failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout.strip()

    def log_text(self):
        try:
            with open(os.path.join(self.root, "server.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def _pg(self, tool, *args, check=True):
        ids = _run_as()
        proc = subprocess.run([os.path.join(self.bin, tool), *args], capture_output=True, text=True,
                              timeout=START_TIMEOUT_S + 30, stdin=subprocess.DEVNULL,
                              preexec_fn=(lambda: (os.setgid(ids[1]), os.setuid(ids[0]))) if ids else None)
        if check and proc.returncode != 0:
            raise PgError(f"{tool} failed ({proc.returncode}): {proc.stderr.strip()}\n{self.log_text()[-2000:]}")
        return proc

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
