"""Checks deploy/Dockerfile without Docker (no daemon runs on the build machines).

Parses the instructions and checks what the image promises (multi-stage on Debian 12,
slim runtime, non-root numeric USER, HEALTHCHECK on /healthz with a tool the image
has, SIGTERM, the store on a volume, exec-form ENTRYPOINT), that the runtime stage
installs a package for every shared library the built binary links, and then replays
the build stage: its COPY sources (through Dockerfile.dockerignore) go to a temp dir
and its non-apt RUN lines run there, so a build that needs a file the image does not
copy fails here rather than in someone's `docker build`.

    check_dockerfile.py --dockerfile deploy/Dockerfile --context . --binary build/closehook
"""

import argparse
import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

KNOWN = {"FROM", "RUN", "CMD", "LABEL", "EXPOSE", "ENV", "ADD", "COPY", "ENTRYPOINT",
         "VOLUME", "USER", "WORKDIR", "ARG", "ONBUILD", "STOPSIGNAL", "HEALTHCHECK", "SHELL"}
# Sanitizer runtimes appear in the ASan build's NEEDED list, never in the Release image.
SANITIZER_LIBS = ("libasan", "libubsan", "liblsan", "libtsan")
STORE_DIR = "/var/lib/closehook"
# The build stage's compile (about 5 s here) must not hang a ctest run.
REPLAY_TIMEOUT_S = 300

errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond


def instructions(text):
    """[(KEYWORD, args)] with continuation lines joined and comments dropped."""
    out, cur = [], ""
    for line in text.splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if cur and line.lstrip().startswith("#"):
            continue  # comment lines inside a continued instruction are skipped by Docker
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        keyword, _, args = cur.strip().partition(" ")
        out.append((keyword.upper(), args.strip()))
        cur = ""
    check(not cur, "Dockerfile ends inside a continued line")
    return out


def stages(instrs):
    """[{base, name, instrs}] split at FROM."""
    result = []
    for kw, args in instrs:
        check(kw in KNOWN, f"unknown instruction {kw}")
        if kw == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", args, re.I)
            check(m is not None, f"unparsable FROM {args!r}")
            result.append({"base": m.group(1) if m else args, "name": m and m.group(2), "instrs": []})
        else:
            check(bool(result), f"{kw} before the first FROM")
            if result:
                result[-1]["instrs"].append((kw, args))
    return result


def last(stage, kw):
    found = [a for k, a in stage["instrs"] if k == kw]
    return found[-1] if found else None


def exec_form(args):
    try:
        value = json.loads(args)
    except ValueError:
        return None
    return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


def apt_packages(stage):
    """Packages of every `apt-get install` in the stage; checks each install's hygiene."""
    pkgs = set()
    for kw, args in stage["instrs"]:
        if kw != "RUN" or "apt-get install" not in args:
            continue
        check("--no-install-recommends" in args, f"apt-get install without --no-install-recommends: {args[:60]}")
        check("rm -rf /var/lib/apt/lists" in args, "apt lists not removed in the same RUN (bloats the layer)")
        for part in args.split("&&"):
            if "apt-get install" in part:
                pkgs.update(w for w in shlex.split(part.split("apt-get install", 1)[1]) if not w.startswith("-"))
    return pkgs


def needed_packages(binary):
    """Debian packages owning the binary's direct NEEDED libraries (lib -> package)."""
    dyn = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True, check=True).stdout
    cache = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True, check=True).stdout
    out = {}
    for lib in re.findall(r"\(NEEDED\).*\[(.+)\]", dyn):
        if lib.startswith(SANITIZER_LIBS):
            continue
        paths = re.findall(rf"^\s*{re.escape(lib)} \(.*x86-64.*\) => (\S+)", cache, re.M) or \
            re.findall(rf"^\s*{re.escape(lib)} \(.*\) => (\S+)", cache, re.M)
        pkg = None
        for path in paths[:1] + [os.path.realpath(p) for p in paths[:1]]:
            owner = subprocess.run(["dpkg", "-S", path], capture_output=True, text=True)
            if owner.returncode == 0:
                pkg = owner.stdout.split(":")[0].strip()
                break
        check(pkg is not None, f"cannot find the Debian package of {lib}")
        if pkg:
            out[lib] = pkg
    return out


def slim_base_packages():
    """What debian:12-slim already holds: the Essential packages and everything they
    (pre-)depend on, read from this Debian 12 machine's dpkg database."""
    q = subprocess.run(["dpkg-query", "-W", "-f", "${Package}\t${Essential}\t${Pre-Depends}, ${Depends}\n"],
                       capture_output=True, text=True, check=True).stdout
    deps, todo = {}, []
    for line in q.splitlines():
        name, essential, rel = line.split("\t")
        deps[name] = {re.split(r"[ :(]", alt.strip())[0] for d in rel.split(",") for alt in d.split("|")[:1]
                      if alt.strip()}
        if essential == "yes":
            todo.append(name)
    seen = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(deps.get(name, ()))
    return seen


def check_stages(st, binary):
    check(len(st) >= 2, "not a multi-stage build")
    if len(st) < 2:
        return
    build, final = st[0], st[-1]
    check(re.fullmatch(r"debian:(12|bookworm)(\.\d+)?", build["base"]) is not None,
          f"build stage is {build['base']}, expected debian:12")
    check(re.fullmatch(r"debian:(12|bookworm)(\.\d+)?-slim", final["base"]) is not None,
          f"runtime stage is {final['base']}, expected debian:12-slim")
    names = {s["name"] for s in st[:-1] if s["name"]}
    for kw, args in final["instrs"]:
        m = re.match(r"--from=(\S+)", args) if kw == "COPY" else None
        if m:
            check(m.group(1) in names, f"COPY --from={m.group(1)} names no earlier stage")

    user = last(final, "USER")
    uid = (user or "").split(":")[0]
    check(uid.isdigit() and int(uid) != 0, f"runtime USER must be a numeric non-root uid, got {user!r}")
    check(last(final, "STOPSIGNAL") == "SIGTERM", "STOPSIGNAL SIGTERM missing")
    for kw in ("ENTRYPOINT", "CMD"):
        check(exec_form(last(final, kw) or "") is not None, f"{kw} must be in JSON exec form (signals reach PID 1)")

    pkgs = apt_packages(final)
    apt_packages(build)
    health = last(final, "HEALTHCHECK") or ""
    check("/healthz" in health, "HEALTHCHECK does not probe /healthz")
    cmd = health.split(" CMD ", 1)[1].strip() if " CMD " in health else ""
    argv = exec_form(cmd) or shlex.split(cmd)
    tool = os.path.basename(argv[0]) if argv else ""
    check(tool in pkgs or tool == "closehook", f"HEALTHCHECK runs {tool!r}, which the runtime stage does not install")

    volumes = " ".join(a for k, a in final["instrs"] if k == "VOLUME")
    check(STORE_DIR in volumes, f"{STORE_DIR} (the queue) is not a VOLUME")
    check(last(final, "WORKDIR") == STORE_DIR, f"runtime WORKDIR must be {STORE_DIR} (relative store.path)")

    base = slim_base_packages()
    for lib, pkg in needed_packages(binary).items():
        check(pkg in pkgs or pkg in base, f"{lib} comes from {pkg}, which the runtime stage does not install")


def ignored(rel, patterns):
    """Whether Dockerfile.dockerignore excludes rel (last matching pattern wins)."""
    result = False
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat[1:] if neg else pat
        parts = rel.split("/")
        if any(fnmatch.fnmatch("/".join(parts[:i]), pat) for i in range(1, len(parts) + 1)):
            result = not neg
    return result


def replay_build(stage, context, dockerignore):
    """Copies the stage's COPY sources to a temp root and runs its non-apt RUN lines."""
    patterns = []
    if os.path.exists(dockerignore):
        with open(dockerignore, encoding="utf-8") as f:
            patterns = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    root = tempfile.mkdtemp(prefix="closehook-docker-")
    try:
        workdir = "/"
        for kw, args in stage["instrs"]:
            here = os.path.join(root, workdir.lstrip("/"))
            if kw == "WORKDIR":
                workdir = os.path.join(workdir, args)
                os.makedirs(os.path.join(root, workdir.lstrip("/")), exist_ok=True)
            elif kw == "COPY":
                *srcs, dest = [w for w in shlex.split(args) if not w.startswith("--")]
                for src in srcs:
                    path = os.path.join(context, src)
                    if not check(os.path.exists(path), f"COPY {src}: not in the build context"):
                        continue
                    check(not ignored(os.path.normpath(src), patterns), f"COPY {src}: excluded by {dockerignore}")
                    target = os.path.join(here, dest, os.path.basename(src)) if dest.endswith("/") \
                        else os.path.join(here, dest)
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    if os.path.isdir(path):
                        shutil.copytree(path, target)
                    else:
                        shutil.copy2(path, target)
            elif kw == "RUN" and "apt-get" not in args:
                run = subprocess.run(["bash", "-c", args], cwd=here, capture_output=True, text=True,
                                     timeout=REPLAY_TIMEOUT_S)
                if not check(run.returncode == 0, f"build stage RUN failed: {args[:80]}"):
                    sys.stderr.write(run.stdout[-3000:] + run.stderr[-3000:])
        return root
    except Exception:
        shutil.rmtree(root, ignore_errors=True)
        raise


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dockerfile", required=True)
    ap.add_argument("--context", required=True)
    ap.add_argument("--binary", required=True)
    ap.add_argument("--no-replay", action="store_true", help="skip compiling the build stage")
    args = ap.parse_args()
    with open(args.dockerfile, encoding="utf-8") as f:
        st = stages(instructions(f.read()))
    check_stages(st, args.binary)
    if st and not args.no_replay and not errors:
        root = replay_build(st[0], args.context, args.dockerfile + ".dockerignore")
        for kw, a in st[-1]["instrs"]:
            m = re.match(r"--from=\S+\s+(\S+)", a) if kw == "COPY" else None
            if m:
                check(os.path.exists(os.path.join(root, m.group(1).lstrip("/"))),
                      f"build stage did not produce {m.group(1)}")
        shutil.rmtree(root, ignore_errors=True)
    for e in errors:
        print(f"check_dockerfile: {e}", file=sys.stderr)
    print("check_dockerfile: " + ("FAILED" if errors else f"ok ({len(st)} stages)"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
