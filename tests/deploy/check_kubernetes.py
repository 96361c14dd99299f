"""Checks deploy/kubernetes/ without a cluster: every file parses as YAML, the
expected objects are there, and they agree with each other and with the image.

Agreement is where manifests break silently: a Service selector that matches no pod,
a probe on a port the container does not name, a config env:NAME no Secret fills,
a store path on a volume that dies with the pod. The shipped config is also run
through `closehook check-config --allow-placeholders` with placeholder secrets (its
outcome ids are placeholders too, which check-config refuses without the flag).

    check_kubernetes.py --dir deploy/kubernetes --dockerfile deploy/Dockerfile --binary build/closehook
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

EXPECTED_KINDS = {"ConfigMap", "StatefulSet", "Service", "PodDisruptionBudget"}
CONFIG_KEY = "closehook.json"

errors = []


def check(cond, msg):
    if not cond:
        errors.append(msg)
    return cond


def load(directory):
    docs = []
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        with open(path, encoding="utf-8") as f:
            try:
                found = [d for d in yaml.safe_load_all(f) if d is not None]
            except yaml.YAMLError as e:
                check(False, f"{path}: {e}")
                continue
        for d in found:
            if check(isinstance(d, dict) and d.get("apiVersion") and d.get("kind")
                     and (d.get("metadata") or {}).get("name"), f"{path}: object without apiVersion/kind/name"):
                d["_file"] = os.path.basename(path)
                docs.append(d)
    return docs


def by_kind(docs, kind):
    return [d for d in docs if d["kind"] == kind]


def matches(selector, labels):
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def port_ok(container, port):
    names = {p.get("name") for p in container.get("ports", [])}
    numbers = {p.get("containerPort") for p in container.get("ports", [])}
    return port in names or port in numbers


def probe_path(container, probe, path):
    get = (container.get(probe) or {}).get("httpGet") or {}
    check(get.get("path") == path, f"{probe} must GET {path}, has {get.get('path')!r}")
    check(port_ok(container, get.get("port")), f"{probe} port {get.get('port')!r} is not a container port")


def image_uid(dockerfile):
    with open(dockerfile, encoding="utf-8") as f:
        users = re.findall(r"^USER\s+(\d+)", f.read(), re.M)
    return int(users[-1]) if users else None


def check_pod(pod, dockerfile):
    """The pod template: probes, drain, hardening, resources; returns the container."""
    containers = [c for c in pod.get("containers", []) if c.get("name") == "closehook"]
    if not check(len(containers) == 1, "no container named closehook"):
        return None
    c = containers[0]
    probe_path(c, "readinessProbe", "/readyz")
    probe_path(c, "livenessProbe", "/healthz")

    pre = (((c.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command") or []
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if check(len(pre) == 2 and pre[0] == "sleep" and str(pre[1]).isdigit(), f"preStop must be a sleep, is {pre}"):
        check(int(pre[1]) < grace, f"preStop sleep {pre[1]}s leaves no time to stop in {grace}s")

    psc, csc = pod.get("securityContext") or {}, c.get("securityContext") or {}
    check(psc.get("runAsNonRoot") is True or csc.get("runAsNonRoot") is True, "runAsNonRoot is not set")
    uid = csc.get("runAsUser", psc.get("runAsUser"))
    check(uid == image_uid(dockerfile), f"runAsUser {uid} differs from the image's USER {image_uid(dockerfile)}")
    check(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem is not true")
    check(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation is not false")
    check("ALL" in ((csc.get("capabilities") or {}).get("drop") or []), "capabilities do not drop ALL")

    res = c.get("resources") or {}
    check("memory" in (res.get("requests") or {}) and "memory" in (res.get("limits") or {}),
          "memory request and limit are required")
    return c


def mount_for(container, path):
    """The volume mount holding path (longest mountPath prefix)."""
    best = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/") + "/"
        if (path + "/").startswith(mp) and (best is None or len(mp) > len(best["mountPath"])):
            best = m
    return best


def strip_comments(text):
    """closehook's config allows // comments; enough of them for reading keys here."""
    return re.sub(r"^\s*//.*$", "", text, flags=re.M)


def check_config(config_text, container, sts, binary):
    try:
        cfg = json.loads(strip_comments(config_text))
    except ValueError as e:
        check(False, f"ConfigMap {CONFIG_KEY} is not JSON (after comments): {e}")
        return
    refs = set(re.findall(r'"env:([A-Za-z_][A-Za-z0-9_]*)"', config_text))
    env = {e["name"]: e for e in container.get("env", [])}
    for name in sorted(refs):
        ref = ((env.get(name) or {}).get("valueFrom") or {}).get("secretKeyRef")
        check(ref is not None, f"config references env:{name}, but no env entry fills it from a Secret")

    ports = {p["containerPort"] for p in container.get("ports", [])}
    for listener in cfg.get("listen", []):
        check(listener.get("host") in ("0.0.0.0", "::"), f"listener {listener} is not reachable from the pod IP")
        check(listener.get("port") in ports, f"listener port {listener.get('port')} is not a container port")

    store = (cfg.get("store") or {}).get("path", "")
    check(store.startswith("/"), f"store.path {store!r} should be absolute in a pod")
    mount = mount_for(container, store)
    claims = {t["metadata"]["name"] for t in sts["spec"].get("volumeClaimTemplates", [])}
    check(mount is not None and mount["name"] in claims,
          f"store.path {store!r} is not on a volumeClaimTemplate: the queue would die with the pod")

    config_arg = container.get("args", [])
    path = config_arg[config_arg.index("--config") + 1] if "--config" in config_arg else None
    m = mount_for(container, path or "")
    check(path is not None and m is not None and os.path.basename(path) == CONFIG_KEY,
          f"--config {path} is not the mounted ConfigMap key {CONFIG_KEY}")

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        f.write(config_text)
    try:
        fake_env = dict(os.environ, **{n: "placeholder-" + n.lower() for n in refs})
        run = subprocess.run([binary, "check-config", "--allow-placeholders", f.name], capture_output=True,
                             text=True, env=fake_env)
        check(run.returncode == 0, f"closehook check-config rejects the ConfigMap's config:\n{run.stderr}")
    finally:
        os.unlink(f.name)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--dockerfile", required=True)
    ap.add_argument("--binary", required=True)
    args = ap.parse_args()
    docs = load(args.dir)
    kinds = {d["kind"] for d in docs}
    check(EXPECTED_KINDS <= kinds, f"missing kinds: {sorted(EXPECTED_KINDS - kinds)}")
    sts_list = by_kind(docs, "StatefulSet")
    if errors or not check(len(sts_list) == 1, "expected one StatefulSet"):
        return report()
    sts = sts_list[0]
    template = sts["spec"]["template"]
    labels = template["metadata"].get("labels") or {}
    check(matches(sts["spec"]["selector"]["matchLabels"], labels), "StatefulSet selector misses its own pods")
    container = check_pod(template["spec"], args.dockerfile)

    services = {s["metadata"]["name"]: s for s in by_kind(docs, "Service")}
    for s in services.values():
        check(matches(s["spec"].get("selector"), labels), f"Service {s['metadata']['name']} selects no closehook pod")
        for p in s["spec"].get("ports", []):
            check(container is None or port_ok(container, p.get("targetPort")),
                  f"Service {s['metadata']['name']} targets port {p.get('targetPort')!r} the pod does not have")
    governing = services.get(sts["spec"].get("serviceName"))
    check(governing is not None and governing["spec"].get("clusterIP") == "None",
          "StatefulSet serviceName must name a headless Service in the set")
    for pdb in by_kind(docs, "PodDisruptionBudget"):
        check(matches(pdb["spec"]["selector"]["matchLabels"], labels), "PodDisruptionBudget selects no closehook pod")
        check(pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable") is not None,
              "PodDisruptionBudget allows every pod down at once")

    volumes = {v["name"]: v for v in template["spec"].get("volumes", [])}
    maps = {c["metadata"]["name"]: c for c in by_kind(docs, "ConfigMap")}
    cfg_vol = [v for v in volumes.values() if "configMap" in v]
    if container is not None and check(len(cfg_vol) == 1 and cfg_vol[0]["configMap"]["name"] in maps,
                                       "the pod mounts no ConfigMap of the set"):
        tmp = mount_for(container, "/tmp")
        check(tmp is not None and "emptyDir" in volumes.get(tmp["name"], {}),
              "read-only root file system but no writable /tmp")
        config_text = (maps[cfg_vol[0]["configMap"]["name"]].get("data") or {}).get(CONFIG_KEY)
        if check(config_text is not None, f"ConfigMap has no {CONFIG_KEY}"):
            check_config(config_text, container, sts, args.binary)
    return report(len(docs))


def report(n=0):
    for e in errors:
        print(f"check_kubernetes: {e}", file=sys.stderr)
    print("check_kubernetes: " + ("FAILED" if errors else f"ok ({n} objects)"))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
