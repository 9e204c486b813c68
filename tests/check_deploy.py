#!/usr/bin/env python3
"""Checks deploy/: every Kubernetes manifest parses, and the references between
them hold (Service selectors and ports, volumes, probes, the PDB's and the
autoscaler's targets); the flags in manifests, units and the preStop hook are
ones the binaries accept (their usage text); the Containerfile runs as non-root.
Usage: check_deploy.py DEPLOY_DIR PATCHFARM COORDINATOR WORKER"""
import glob, os, re, shlex, subprocess, sys
import yaml

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
            check_flags("patchfarm " + pre[1], pre[2:], f"{name} preStop")
            if "--drain" not in pre: fail(f"{name}: preStop does not drain")
            if "POD_NAME" in " ".join(pre) and not any(e["name"] == "POD_NAME" for e in c.get("env", [])):
                fail(f"{name}: preStop uses POD_NAME without defining it")
        if "$(POD_NAME)" in " ".join(c.get("args", [])):
            if not any(e["name"] == "POD_NAME" for e in c.get("env", [])):
                fail(f"{name}: uses $(POD_NAME) without defining it")

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
for b in ("patchfarm", "patchfarm-coordinator", "patchfarm-worker"):
    if f"dist/bin/{b}" not in container: fail(f"Containerfile: does not install {b}")

for f in failures: print("FAIL:", f)
print(f"{len(docs)} manifests checked, {len(failures)} problems")
sys.exit(1 if failures else 0)
