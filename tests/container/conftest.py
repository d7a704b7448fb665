"""Container fixtures: a runtime (podman, or docker), a local Debian bookworm base with
Python built by debootstrap (cached as an image between runs, like the wheelhouse), and
the project's image built offline from a wheelhouse, in a copy of the build context
under a temporary folder (the repository's wheels/ is left alone).

The tests skip, with the reason, only where no container runtime exists; `make test`
installs podman, runc and debootstrap (the Makefile's system packages)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import ROOT

BASE_IMAGE = "localhost/ocb-test-python:bookworm"
DEBIAN_IMAGE = "localhost/ocb-test-debian:bookworm"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "openchargeback-tests"
# crun fails on these machines (cgroups in hybrid mode) and the default ulimits cannot be
# set inside the VM: runc, cgroupfs, no default ulimits (../shared/CONTAINERS.md).
CONTAINERS_CONF = """[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
"""
PYTHON_BASE = """FROM {debian}
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
      python3 python3-venv ca-certificates && rm -rf /var/lib/apt/lists/*
"""
TIMINGS: dict[str, float] = {}


class Runtime:
    def __init__(self, exe: str, env: dict[str, str]):
        self.exe, self.env = exe, env

    def run(self, *args: str, check: bool = True, timeout: float = 600, **kw) -> subprocess.CompletedProcess:
        p = subprocess.run(
            [self.exe, *args], env=self.env, capture_output=True, text=True, timeout=timeout, **kw
        )
        if check and p.returncode != 0:
            raise AssertionError(f"{self.exe} {' '.join(args)}: exit {p.returncode}\n{p.stdout}\n{p.stderr}")
        return p

    def exists(self, image: str) -> bool:
        return self.run("image", "exists", image, check=False).returncode == 0

    def compose(self) -> list[str]:
        """podman-compose (the dev extra's, which has `config`), or `docker compose`."""
        if self.exe.endswith("podman"):
            mine = Path(sys.executable).parent / "podman-compose"
            found = str(mine) if mine.exists() else shutil.which("podman-compose")
            if found is None:
                pytest.fail("podman-compose is missing: `make install-dev` installs it")
            return [found]
        return [self.exe, "compose"]


@pytest.fixture(scope="session")
def runtime(tmp_path_factory) -> Runtime:
    exe = shutil.which("podman") or shutil.which("docker")
    if exe is None:
        pytest.skip("no container runtime (podman or docker) on this machine")
    env = dict(os.environ)
    if exe.endswith("podman"):
        conf = tmp_path_factory.mktemp("podman") / "containers.conf"
        conf.write_text(CONTAINERS_CONF)
        env["CONTAINERS_CONF"] = str(conf)
    return Runtime(exe, env)


@pytest.fixture(scope="session")
def base_image(runtime, tmp_path_factory) -> str:
    """Debian bookworm with python3 and python3-venv, the stand-in for python:*-slim;
    built once (debootstrap) and kept in the runtime's image store."""
    if runtime.exists(BASE_IMAGE):
        return BASE_IMAGE
    t0 = time.monotonic()
    if not runtime.exists(DEBIAN_IMAGE):
        if shutil.which("debootstrap") is None:
            pytest.fail("debootstrap is missing: `make system-packages` installs it")
        root = tmp_path_factory.mktemp("rootfs") / "rootfs"
        subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(root)],
            check=True,
            capture_output=True,
            timeout=900,
        )
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        runtime.run("import", "-", DEBIAN_IMAGE, stdin=tar.stdout)
        tar.wait()
        shutil.rmtree(root, ignore_errors=True)
    folder = tmp_path_factory.mktemp("pybase")
    (folder / "Dockerfile").write_text(PYTHON_BASE.format(debian=DEBIAN_IMAGE))
    runtime.run("build", "--network", "host", "-t", BASE_IMAGE, str(folder), timeout=900)
    TIMINGS["base image (debootstrap + python3)"] = time.monotonic() - t0
    return BASE_IMAGE


def _dependency_wheels(project: Path) -> Path:
    """Every dependency's wheel, built once per pyproject.toml from ``project`` (a copy:
    building writes a build/ folder beside it); the project's own wheel is built for each
    run, from the code under test."""
    key = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:16]
    folder = CACHE / f"wheels-{sys.version_info.major}{sys.version_info.minor}-{key}"
    if not (folder / "complete").exists():
        part = folder.with_suffix(".part")
        shutil.rmtree(part, ignore_errors=True)
        t0 = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(part), str(project)],
            check=True,
            timeout=1800,
        )
        for w in part.glob("openchargeback-*.whl"):
            w.unlink()
        (part / "complete").write_text("")
        shutil.rmtree(folder, ignore_errors=True)
        part.rename(folder)
        TIMINGS["dependency wheels (pip wheel)"] = time.monotonic() - t0
    return folder


def build_context(dest: Path) -> Path:
    """The files the Dockerfile needs, with a filled wheels/ (as after `make wheels`)."""
    dest.mkdir(parents=True)
    for name in ("Dockerfile", ".dockerignore", "pyproject.toml", "README.md", "config.example.yaml"):
        shutil.copy2(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "src", dest / "src", ignore=ignore)
    shutil.copytree(ROOT / "docker", dest / "docker", ignore=ignore)
    wheels = dest / "wheels"
    shutil.copytree(_dependency_wheels(dest), wheels, ignore=shutil.ignore_patterns("complete"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(wheels), str(dest)],
        check=True,
        timeout=600,
    )
    return dest


@pytest.fixture(scope="session")
def image(runtime, base_image, tmp_path_factory):
    """The project's image, built offline (pip --no-index) from the wheelhouse on the local base."""
    tag = f"localhost/openchargeback:test-{uuid.uuid4().hex[:8]}"
    context = build_context(tmp_path_factory.mktemp("image") / "context")
    t0 = time.monotonic()
    fmt = ["--format", "docker"] if runtime.exe.endswith("podman") else []  # OCI drops HEALTHCHECK
    runtime.run(
        "build", *fmt, "--network", "host", "--build-arg", f"BASE={base_image}", "-t", tag, str(context),
        timeout=1800,
    )  # fmt: skip
    TIMINGS["image build"] = time.monotonic() - t0
    yield tag
    runtime.run("rmi", "-f", tag, check=False)


@pytest.fixture
def names(runtime):
    """Unique names for containers and volumes, all removed after the test."""
    made: list[tuple[str, str]] = []

    def name(kind: str) -> str:
        n = f"ocb-test-{kind}-{uuid.uuid4().hex[:8]}"
        made.append((kind, n))
        return n

    yield name
    for kind, n in reversed(made):
        if kind == "volume":
            runtime.run("volume", "rm", "-f", n, check=False)
        else:
            runtime.run("rm", "-f", "-t", "2", n, check=False)


def pytest_terminal_summary(terminalreporter):
    if TIMINGS:
        terminalreporter.write_line(
            "container timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in TIMINGS.items())
        )
