#!/usr/bin/env python3
"""Checks deploy/: every Kubernetes manifest parses, and the references between
them hold (Service selectors and ports, volumes, probes, the PDB's and the
autoscaler's targets); the flags in manifests, units and any preStop hook are
ones the binaries accept (their usage text); the Containerfile runs as non-root.
Auth: worker pods mount no admin token and drain on their own SIGTERM; token
secrets are mounted with mode 0400, and a token file with the mode, owner and
group the kubelet gives it (fsGroup adds group read) is accepted by the
binaries' readers when read as the pod's user, while mode 0644 is refused;
the example tokens file holds no token in clear.
Usage: check_deploy.py DEPLOY_DIR PATCHFARM COORDINATOR WORKER"""
import atexit, glob, os, re, shlex, shutil, subprocess, sys, tempfile
import yaml

# The mode token secrets are mounted with (defaultMode in deploy/kubernetes/).
TOKEN_SECRET_MODE = 0o400

deploy, pf, coordinator, worker = sys.argv[1:5]
failures = []
def fail(msg): failures.append(msg)

def usage(binary, *args):
    p = subprocess.run([binary, *args], capture_output=True, text=True)
    return p.stdout + p.stderr
usages = {
    "patchfarm-coordinator": usage(coordinator, "--bad-flag"),
    "patchfarm-worker": usage(worker, "--bad-flag"),
    "patchfarm workers": usage(pf, "workers"),
}
def check_flags(command, args, where):
    text = usages.get(command)
    if text is None:
        fail(f"{where}: unknown command {command}"); return
    for a in args:
        if a.startswith("--"):
            flag = a.split("=", 1)[0]
            if flag not in text:
                fail(f"{where}: {command} does not take {flag}")

docs = []
for path in sorted(glob.glob(os.path.join(deploy, "kubernetes", "*.yaml"))):
    try:
        docs += [(path, d) for d in yaml.safe_load_all(open(path)) if d]
    except yaml.YAMLError as e:
        fail(f"{path}: {e}")
by_kind = {}
for path, d in docs:
    for key in ("apiVersion", "kind", "metadata"):
        if key not in d: fail(f"{path}: a document lacks {key}")
    by_kind.setdefault(d.get("kind"), []).append(d)

workloads = by_kind.get("StatefulSet", []) + by_kind.get("Deployment", [])
def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())

for w in workloads:
    name = w["metadata"]["name"]
    spec = w["spec"]
    tmpl = spec["template"]
    if not labels_match(spec["selector"]["matchLabels"], tmpl["metadata"]["labels"]):
        fail(f"{name}: selector does not match the pod labels")
    pod = tmpl["spec"]
    volumes = {v["name"] for v in pod.get("volumes", [])}
    volumes |= {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
    if not pod.get("securityContext", {}).get("runAsNonRoot"):
        fail(f"{name}: does not run as non-root")
    for c in pod["containers"]:
        ports = {p["name"]: p["containerPort"] for p in c.get("ports", [])}
        for m in c.get("volumeMounts", []):
            if m["name"] not in volumes: fail(f"{name}: mount {m['name']} has no volume")
        for probe in ("readinessProbe", "livenessProbe"):
            get = c.get(probe, {}).get("httpGet")
            if get:
                if get["port"] not in ports: fail(f"{name}: {probe} port {get['port']} is not a container port")
                if get["path"] != "/metrics": fail(f"{name}: {probe} path {get['path']} is not an endpoint")
        command = os.path.basename(c["command"][0])
        check_flags(command, c.get("args", []), name)
        args = c.get("args", [])
        for flag, value in zip(args, args[1:]):
            if flag in ("--listen", "--http-listen") and int(value.rsplit(":", 1)[1]) not in ports.values():
                fail(f"{name}: {flag} port is not a container port")
        pre = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command")
        if pre:
            if pre[:2] == ["/bin/sh", "-c"]:
                pre = shlex.split(pre[2].replace("exec ", "", 1))
            if os.path.basename(pre[0]) == "patchfarm":
                check_flags("patchfarm " + pre[1], pre[2:], f"{name} preStop")
            if "POD_NAME" in " ".join(pre) and not any(e["name"] == "POD_NAME" for e in c.get("env", [])):
                fail(f"{name}: preStop uses POD_NAME without defining it")
        if "$(POD_NAME)" in " ".join(c.get("args", [])):
            if not any(e["name"] == "POD_NAME" for e in c.get("env", [])):
                fail(f"{name}: uses $(POD_NAME) without defining it")

# Worker pods drain on their own SIGTERM and hold no admin token: a worker
# host that is broken into must not be able to drain, re-plan or submit.
def secret_keys(volume):
    """The secret keys a volume mounts, or None for every key of the secret."""
    items = volume["secret"].get("items")
    return None if items is None else [i["key"] for i in items] + [i["path"] for i in items]

for w in by_kind.get("Deployment", []):
    name = w["metadata"]["name"]
    pod = w["spec"]["template"]["spec"]
    for c in pod["containers"]:
        if "patchfarm-worker" not in " ".join(c.get("command", []) + c.get("args", [])): continue
        if len(c["command"]) != 1 or os.path.basename(c["command"][0]) != "patchfarm-worker":
            fail(f"{name}: the worker must be the container's command (no shell), to get SIGTERM itself")
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if grace < 600:
            fail(f"{name}: terminationGracePeriodSeconds {grace} is too short for a worker to finish its jobs")
        text = yaml.safe_dump(c)
        if re.search(r"admin", text):
            fail(f"{name}: the worker container refers to an admin token")
        pre = c.get("lifecycle", {}).get("preStop")
        if pre and "--token-file" in yaml.safe_dump(pre):
            fail(f"{name}: the preStop hook needs a token; a worker drains on SIGTERM")
    for v in pod.get("volumes", []):
        if "secret" not in v: continue
        keys = secret_keys(v)
        if "token" in v["secret"]["secretName"] and keys is None:
            fail(f"{name}: volume {v['name']} mounts every key of {v['secret']['secretName']}; "
                 "list items so that only the worker token is mounted")
        if keys is not None and any("admin" in k for k in keys):
            fail(f"{name}: volume {v['name']} mounts an admin token")

# Token files: the mounts of the secrets that --token-file and --tokens read.
def token_files(w):
    """(container, flag, path, volume) for each token file a workload reads."""
    pod = w["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for c in pod["containers"]:
        args = c.get("args", [])
        for flag, value in zip(args, args[1:]):
            if flag not in ("--token-file", "--tokens"): continue
            for m in c.get("volumeMounts", []):
                if value.startswith(m["mountPath"].rstrip("/") + "/"):
                    yield c, flag, value, volumes.get(m["name"])

def kubelet_file(pod, volume, key):
    """(mode, uid, gid) of secret file `key` as the kubelet writes it: the item's
    mode or defaultMode (0644 if neither), owned by root; with fsGroup the group
    is fsGroup and group read is added (kubernetes/kubernetes#57923)."""
    secret = volume["secret"]
    mode = secret.get("defaultMode", 0o644)
    for item in secret.get("items", []):
        if item["path"] == key: mode = item.get("mode", mode)
    fs_group = pod.get("securityContext", {}).get("fsGroup")
    if fs_group is not None: mode |= 0o440
    return mode, 0, fs_group if fs_group is not None else 0

def read_token_file(flag, path, uid=None, gid=None, groups=None):
    """Runs the reader the binaries use for `flag` on `path`; (ok, output)."""
    if flag == "--token-file":
        argv = [pf_copy, "token", "hash", "--roles", "worker", "--token-file", path]
    else:
        argv = [pf_copy, "token", "check", "--tokens", path]
    extra = {}
    if uid is not None: extra = dict(user=uid, group=gid, extra_groups=groups)
    p = subprocess.run(argv, capture_output=True, text=True, **extra)
    return p.returncode == 0, p.stdout + p.stderr

work = tempfile.mkdtemp(prefix="check_deploy_", dir="/tmp")
atexit.register(shutil.rmtree, work, True)
os.chmod(work, 0o755)  # The pod's user must reach the binary and the files.
pf_copy = os.path.join(work, "patchfarm")
for b in ("patchfarm", "patchfarm-farm"):  # patchfarm runs token verbs in patchfarm-farm.
    shutil.copy(os.path.join(os.path.dirname(os.path.realpath(pf)), b), os.path.join(work, b))
    os.chmod(os.path.join(work, b), 0o755)
token = "check-deploy-token-0123456789abcdef"
hashed = subprocess.run([pf, "token", "hash", "--roles", "worker"], input=token + "\n",
                        capture_output=True, text=True).stdout
def can_switch_users():
    """Root, and the pods' ids exist here (a user namespace may map only root)."""
    if os.geteuid() != 0: return False
    probe = os.path.join(work, "probe")
    open(probe, "w").close()
    try:
        os.chown(probe, 10001, 10001)
        return subprocess.run(["/bin/true"], user=10001, group=10001).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False
as_root = can_switch_users()
checked = 0
for w in workloads:
    name = w["metadata"]["name"]
    pod = w["spec"]["template"]["spec"]
    ctx = pod.get("securityContext", {})
    for c, flag, path, volume in token_files(w):
        if volume is None or "secret" not in volume:
            fail(f"{name}: {flag} {path} is not on a secret volume"); continue
        if volume["secret"].get("defaultMode") != TOKEN_SECRET_MODE:
            fail(f"{name}: volume {volume['name']} has defaultMode "
                 f"{oct(volume['secret'].get('defaultMode', 0o644))}, not {oct(TOKEN_SECRET_MODE)}")
        key = os.path.basename(path)
        keys = secret_keys(volume)
        if keys is not None and key not in keys:
            fail(f"{name}: {flag} {path}: the volume does not mount key {key}")
        mode, owner, group = kubelet_file(pod, volume, key)
        local = os.path.join(work, f"{name}-{key}")
        content = token + "\n" if flag == "--token-file" else hashed
        for p in (local, local + "-open"):
            with open(p, "w") as f: f.write(content)
        os.chmod(local, mode)
        if as_root:  # As on the node: root-owned, group fsGroup, read as the pod's user.
            uid = ctx.get("runAsUser", 0)
            os.chown(local, owner, group)
            os.chown(local + "-open", uid, group)
            reader = dict(uid=uid, gid=ctx.get("runAsGroup", 65534), groups=[ctx["fsGroup"]] if "fsGroup" in ctx else [])
        else:  # Only the mode can be reproduced, on a file of ours: owner-only.
            reader = {}
            mode &= ~0o070
            os.chmod(local, mode)
            print(f"note: cannot switch users here; {name} {flag} checked with mode {mode:04o} "
                  "owned by this user, not as the kubelet mounts it")
        ok, out = read_token_file(flag, local, **reader)
        if not ok:
            fail(f"{name}: {flag} {path}: the reader refuses the mounted file (mode {mode:04o}): {out.strip()}")
        os.chmod(local + "-open", 0o644)
        ok, out = read_token_file(flag, local + "-open", **reader)
        if ok or f"{local}-open: mode 0644" not in out:
            fail(f"{name}: {flag}: a mode 0644 file was not refused naming it and its mode: {out.strip()}")
        checked += 1
if checked < 2: fail(f"expected token files on the coordinator and the workers, found {checked}")

examples_tokens = os.path.join(deploy, "examples", "tokens")
for n, line in enumerate(open(examples_tokens), 1):
    line = line.strip()
    if line and not line.startswith("#") and not line.startswith("sha256:"):
        fail(f"{examples_tokens}:{n}: a token in clear text (the tokens file holds sha256: hashes)")

for s in by_kind.get("Service", []):
    targets = [w for w in workloads if labels_match(s["spec"]["selector"], w["spec"]["template"]["metadata"]["labels"])]
    if not targets: fail(f"service {s['metadata']['name']} selects no workload")
    for t in targets:
        names = {p["name"] for c in t["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
        for p in s["spec"]["ports"]:
            if p["targetPort"] not in names: fail(f"service port {p['name']}: no container port {p['targetPort']}")
    if any(w["kind"] == "StatefulSet" and w["spec"]["serviceName"] != s["metadata"]["name"] for w in targets):
        fail("the StatefulSet's serviceName is not its Service")

for pdb in by_kind.get("PodDisruptionBudget", []):
    if not any(labels_match(pdb["spec"]["selector"]["matchLabels"], w["spec"]["template"]["metadata"]["labels"]) for w in workloads):
        fail("the PodDisruptionBudget selects no workload")
for hpa in by_kind.get("HorizontalPodAutoscaler", []):
    ref = hpa["spec"]["scaleTargetRef"]
    if not any(w["kind"] == ref["kind"] and w["metadata"]["name"] == ref["name"] for w in workloads):
        fail("the autoscaler targets no workload")
    metrics = [m["external"]["metric"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "External"]
    if "patchfarm_queue_depth" not in metrics: fail("the autoscaler does not follow the queue depth")
if len(by_kind.get("StatefulSet", [])) != 1 or not by_kind.get("Deployment"):
    fail("expected a coordinator StatefulSet and a worker Deployment")

for unit in glob.glob(os.path.join(deploy, "systemd", "*.service")):
    text = open(unit).read()
    m = re.search(r"^ExecStart=(\S+)(.*)$", text, re.M)
    if not m: fail(f"{unit}: no ExecStart"); continue
    check_flags(os.path.basename(m.group(1)), m.group(2).split(), unit)
    if "User=patchfarm" not in text: fail(f"{unit}: runs as root")
container = open(os.path.join(deploy, "Containerfile")).read()
if not re.search(r"^USER (?!root)\S+", container, re.M): fail("Containerfile: no non-root USER")
for b in ("patchfarm", "patchfarm-farm", "patchfarm-update", "patchfarm-coordinator",
          "patchfarm-worker"):
    if f"dist/bin/{b}" not in container: fail(f"Containerfile: does not install {b}")

for f in failures: print("FAIL:", f)
print(f"{len(docs)} manifests checked, {len(failures)} problems")
sys.exit(1 if failures else 0)
