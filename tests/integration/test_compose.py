"""docker-compose.yml validates, without a Docker engine (none runs here).

- `docker-compose -f docker-compose.yml config -q` (Debian's docker-compose 1.29, which
  scripts/deps.sh installs without recommends: the Python client only) accepts it with the
  required variables set, and refuses it when CARTCAST_STREAM_KEY is missing;
- the normalised file (`docker-compose config`, read with Debian's python3-yaml, a
  dependency of docker-compose) has the services of the contract: redis with AOF
  everysec on a volume, origin (1935, 9000/udp, 8080), two edges (scale 2, following
  http://origin:8080) behind haproxy on 8081, overlay 8090, orders 8091;
- every cartcast service's command is build/cartcast-X with flags that
  `build/cartcast-X --help` lists, and the Dockerfile builds exactly those binaries
  (Debian 12, scripts/deps.sh, cmake);
- docker/haproxy.cfg balances over the edge service on 8081 with /healthz checks.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("CC_BUILD_DIR") or os.path.join(ROOT, "build")
COMPOSE = os.path.join(ROOT, "docker-compose.yml")
ENV = dict(os.environ, CARTCAST_STREAM_KEY="k" * 36, CARTCAST_OPERATOR_TOKEN="t" * 36,
           CARTCAST_VIEWER_SECRET="s" * 64)
# The Debian interpreter that docker-compose runs on has yaml; another python3 on PATH may not.
DEBIAN_PY = "/usr/bin/python3"


def compose(*args, env=ENV):
    exe = shutil.which("docker-compose")
    if exe is None:
        raise AssertionError("docker-compose is not installed: run scripts/deps.sh")
    return subprocess.run([exe, "-f", COMPOSE] + list(args), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)


def help_flags(binary):
    out = subprocess.run([os.path.join(BUILD, binary), "--help"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, timeout=10).stdout.decode()
    return set(re.findall(r"^\s+(--[a-z0-9-]+)", out, re.M))


class Compose(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        r = compose("config")
        if r.returncode != 0:
            raise AssertionError("docker-compose config failed:\n" + r.stderr.decode())
        y = subprocess.run([DEBIAN_PY, "-c", "import sys, json, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
                           input=r.stdout, stdout=subprocess.PIPE, timeout=30, check=True)
        cls.cfg = json.loads(y.stdout)
        cls.svc = cls.cfg["services"]

    def test_config_quiet(self):
        r = compose("config", "-q")
        self.assertEqual(r.returncode, 0, r.stderr.decode())

    def test_secrets_required(self):
        env = dict(ENV)
        del env["CARTCAST_STREAM_KEY"]
        r = compose("config", "-q", env=env)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("CARTCAST_STREAM_KEY", r.stderr.decode())

    def test_services(self):
        self.assertEqual(set(self.svc), {"redis", "origin", "edge", "haproxy", "overlay", "orders"})

    def ports(self, name):
        out = set()
        for p in self.svc[name].get("ports", []):
            if isinstance(p, dict):  # long form, as 1.29's config may print it
                out.add("%s:%s%s" % (p["published"], p["target"], "/udp" if p.get("protocol") == "udp" else ""))
            else:
                out.add(str(p))
        return out

    def test_ports_follow_the_contract(self):
        self.assertEqual(self.ports("origin"), {"1935:1935", "9000:9000/udp", "8080:8080"})
        self.assertEqual(self.ports("haproxy"), {"8081:8081"})
        self.assertEqual(self.ports("overlay"), {"8090:8090"})
        self.assertEqual(self.ports("orders"), {"8091:8091"})
        self.assertEqual(self.ports("redis"), set())  # not published
        self.assertEqual(self.ports("edge"), set())   # scaled: reached through haproxy
        self.assertIn("8081", [str(x) for x in self.svc["edge"]["expose"]])

    def test_redis_aof(self):
        r = self.svc["redis"]
        self.assertTrue(r["image"].startswith("redis:7"))
        cmd = r["command"]
        self.assertEqual(cmd[0], "redis-server")
        self.assertEqual(cmd[cmd.index("--appendonly") + 1], "yes")
        self.assertEqual(cmd[cmd.index("--appendfsync") + 1], "everysec")
        self.assertTrue(any(str(v).split(":")[1:2] == ["/data"] for v in r["volumes"]), r["volumes"])

    def test_two_edges_on_the_origin(self):
        e = self.svc["edge"]
        self.assertEqual(e.get("scale"), 2)
        cmd = e["command"]
        self.assertEqual(cmd[cmd.index("--origin") + 1], "http://origin:8080")

    def test_commands_use_real_flags(self):
        seen = set()
        for name, s in self.svc.items():
            cmd = s.get("command")
            if not cmd or not cmd[0].startswith("cartcast-"):
                continue
            self.assertIsInstance(cmd, list, name)
            binary = cmd[0]
            self.assertTrue(os.access(os.path.join(BUILD, binary), os.X_OK), "%s: no %s in %s" % (name, binary, BUILD))
            flags = help_flags(binary)
            self.assertIn("--help", flags)
            used = [a.split("=", 1)[0] for a in cmd[1:] if a.startswith("--")]
            for f in used:
                self.assertIn(f, flags, "%s: %s does not take %s" % (name, binary, f))
            # daemons read redis://redis:6379 (the service name) wherever they take --redis
            if "--redis" in cmd:
                self.assertEqual(cmd[cmd.index("--redis") + 1], "redis://redis:6379", name)
            seen.add(binary)
        self.assertEqual(seen, {"cartcast-origin", "cartcast-edge", "cartcast-overlay", "cartcast-orders"})

    def test_dockerfile_builds_them(self):
        with open(os.path.join(ROOT, "Dockerfile")) as f:
            d = f.read()
        self.assertRegex(d, r"(?m)^FROM debian:12\b")
        self.assertIn("scripts/deps.sh", d)
        for b in ("cartcast-origin", "cartcast-edge", "cartcast-overlay", "cartcast-orders"):
            self.assertIn(b, d)
        for name in ("origin", "edge", "overlay", "orders"):
            self.assertEqual(self.svc[name]["build"]["context"], ROOT)

    def test_haproxy_config(self):
        with open(os.path.join(ROOT, "docker", "haproxy.cfg")) as f:
            h = f.read()
        self.assertRegex(h, r"(?m)^\s+bind :8081\b")
        self.assertRegex(h, r"(?m)^\s+server-template edge \d+ edge:8081\b")
        self.assertIn("GET /healthz", h)
        self.assertTrue(any(v.startswith(os.path.join(ROOT, "docker", "haproxy.cfg") + ":")
                            for v in self.svc["haproxy"]["volumes"]))


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0]] + sys.argv[1:], verbosity=2)
