#!/usr/bin/env python3
"""check_dockerfile.py - the Dockerfile checked without a container engine.

hadolint is not in Debian, so this is a small structural lint of our own (Python's
standard library only), with the rules that matter for this image:
  - every program the project builds (add_executable(tp-...) outside bench/, minus
    development-only tools) is built AND copied into the image: tp-loadgen included,
    and any new service the day its CMake target appears;
  - every program the chart or docker-compose.yml runs is in the image;
  - the runtime user is numeric, not root, created with that uid, and the Helm chart's
    securityContext.runAsUser / runAsGroup are the same numbers;
  - the migrations land where the chart and compose point TP_MIGRATIONS_DIR;
  - hadolint's basics: base images pinned (no :latest, DL3007), apt-get install with
    --no-install-recommends and the lists removed in the same RUN (DL3015, DL3009),
    COPY not ADD (DL3020), CMD/ENTRYPOINT in JSON form (DL3025), WORKDIR absolute
    (DL3000), no sudo (DL3004), a final stage that is not the build stage.

  tests/deploy/check_dockerfile.py [repo-root]
Exit 0 when all hold; 1 with one line per problem.
"""
import glob
import json
import os
import re
import shlex
import sys

ROOT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                       os.path.join(os.path.dirname(__file__), "..", ".."))
# built for development and tests only, never shipped
NOT_SHIPPED = {"tp-mockbroker"}
problems = []


def problem(msg):
    problems.append(msg)
    print("check_dockerfile: " + msg, file=sys.stderr)


def instructions(path):
    """(line number, INSTRUCTION, arguments) with continuations joined, comments dropped."""
    out, buf, start = [], "", 0
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        s = line.rstrip("\n")
        if not buf and (not s.strip() or s.lstrip().startswith("#")):
            continue
        if buf and s.lstrip().startswith("#"):
            continue
        if not buf:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        word, _, rest = buf.strip().partition(" ")
        out.append((start, word.upper(), rest.strip()))
        buf = ""
    return out


def cmake_programs():
    progs = set()
    for f in glob.glob(os.path.join(ROOT, "*", "CMakeLists.txt")):
        if os.path.basename(os.path.dirname(f)) in ("bench", "tests", "build"):
            continue
        progs |= set(re.findall(r"add_executable\((tp-[a-z0-9-]+)", open(f).read()))
    return progs - NOT_SHIPPED


def values_security():
    """runAsUser and runAsGroup of the chart's values.yaml (plain text: no YAML module)."""
    text = open(os.path.join(ROOT, "deploy/helm/twinpipe/values.yaml")).read()
    block = text.split("podSecurityContext:", 1)[1]
    uid = re.search(r"^\s+runAsUser:\s*(\d+)", block, re.M)
    gid = re.search(r"^\s+runAsGroup:\s*(\d+)", block, re.M)
    return (uid and uid.group(1)), (gid and gid.group(1))


def run_programs():
    """Programs the chart's templates and docker-compose.yml start."""
    progs = set()
    for f in glob.glob(os.path.join(ROOT, "deploy/helm/twinpipe/templates/*.yaml")):
        progs |= set(re.findall(r'"program" "(tp-[a-z0-9-]+)"', open(f).read()))
    compose = open(os.path.join(ROOT, "docker-compose.yml")).read()
    progs |= set(re.findall(r'command: \["(tp-[a-z0-9-]+)"', compose))
    return progs


def main():
    path = os.path.join(ROOT, "Dockerfile")
    ins = instructions(path)
    stages = [(n, a) for n, i, a in ins if i == "FROM"]
    if len(stages) < 2:
        problem("expected a build stage and a runtime stage, found %d FROM" % len(stages))
        return
    build_alias = None
    for n, a in stages:
        image = a.split()[0]
        if ":" not in image or image.endswith(":latest"):
            problem("line %d: base image %r is not pinned to a tag (DL3007)" % (n, image))
        m = re.search(r"\bAS\s+(\S+)", a, re.I)
        if m and build_alias is None:
            build_alias = m.group(1)
    last_from = stages[-1][0]
    if re.search(r"\bAS\s+%s\b" % re.escape(build_alias or "-"), stages[-1][1], re.I):
        problem("the final stage is the build stage")

    built, copied, user, created_uid, created_gid, migrations_dest = set(), set(), None, None, None, None
    for n, i, a in ins:
        if i == "ADD":
            problem("line %d: ADD: use COPY (DL3020)" % n)
        if i == "RUN":
            if re.search(r"\bsudo\b", a):
                problem("line %d: sudo (DL3004)" % n)
            if "apt-get install" in a:
                if "--no-install-recommends" not in a:
                    problem("line %d: apt-get install without --no-install-recommends (DL3015)" % n)
                if "rm -rf /var/lib/apt/lists" not in a:
                    problem("line %d: apt lists not removed in the same RUN (DL3009)" % n)
            m = re.search(r"--target\s+((?:tp-[a-z0-9-]+\s*)+)", a)
            if m:
                built |= set(m.group(1).split())
            m = re.search(r"useradd\b.*?--uid\s+(\d+)", a)
            if m:
                created_uid = m.group(1)
            m = re.search(r"groupadd\b.*?--gid\s+(\d+)", a)
            if m:
                created_gid = m.group(1)
        if i == "COPY" and n > last_from and "--from=" in a:
            words = shlex.split(a)
            srcs, dest = [w for w in words[:-1] if not w.startswith("--")], words[-1]
            for s in srcs:
                b = os.path.basename(s)
                if b.startswith("tp-"):
                    copied.add(b)
                if s.endswith("migrations/*.sql"):
                    migrations_dest = dest.rstrip("/")
        if i == "USER" and n > last_from:
            user = a
        if i == "WORKDIR" and not a.startswith("/"):
            problem("line %d: WORKDIR %r is not absolute (DL3000)" % (n, a))
        if i in ("CMD", "ENTRYPOINT"):
            try:
                json.loads(a)
            except ValueError:
                problem("line %d: %s not in JSON form (DL3025)" % (n, i))

    want = cmake_programs()
    if "tp-loadgen" not in want:
        problem("tp-loadgen is no CMake target any more: update this check")
    for p in sorted(want - built):
        problem("%s is a program of the project but the image does not build it (--target)" % p)
    for p in sorted(want - copied):
        problem("%s is a program of the project but not copied into the runtime stage" % p)
    for p in sorted(run_programs() - copied):
        problem("the chart or docker-compose.yml runs %s, which the image lacks" % p)
    for p in sorted(copied - built):
        problem("%s is copied but not built" % p)

    uid, gid = values_security()
    if not user:
        problem("the runtime stage sets no USER (runs as root)")
    else:
        u, _, g = user.partition(":")
        if not u.isdigit() or u == "0":
            problem("USER %r: use a numeric, non-root uid (Kubernetes runAsNonRoot checks it)" % user)
        if u != created_uid:
            problem("USER %s is not the uid useradd creates (%s)" % (u, created_uid))
        if g and g != created_gid:
            problem("USER's group %s is not the gid groupadd creates (%s)" % (g, created_gid))
        if u != uid or (g or created_gid) != gid:
            problem("USER %s is not the chart's runAsUser:runAsGroup %s:%s" % (user, uid, gid))

    chart_dir = set()
    for f in glob.glob(os.path.join(ROOT, "deploy/helm/twinpipe/templates/*.yaml")):
        chart_dir |= set(re.findall(r'"migrations.dir" "([^"]+)"', open(f).read()))
    if migrations_dest is None:
        problem("the migrations are not copied into the runtime stage")
    elif chart_dir != {migrations_dest}:
        problem("migrations copied to %s, but the chart sets migrations.dir %s" %
                (migrations_dest, sorted(chart_dir)))
    if ("TP_MIGRATIONS_DIR: \"%s\"" % migrations_dest) not in open(os.path.join(ROOT, "docker-compose.yml")).read():
        problem("docker-compose.yml's TP_MIGRATIONS_DIR is not %s" % migrations_dest)

    if problems:
        print("check_dockerfile: %d problem(s) in %s" % (len(problems), path), file=sys.stderr)
        sys.exit(1)
    print("check_dockerfile: ok (%d stages; image programs: %s; USER %s)" %
          (len(stages), " ".join(sorted(copied)), user))


main()
