"""Static checks of the container deployment: docker-compose.yml, deploy/Dockerfile, .dockerignore.

No Docker engine is needed: the files are parsed and checked against the workspace (services/,
their pyproject.toml, uv.lock) and against lingxi.redis_acl (Redis loads the ACL file `lingxi redis acl`
writes; each service connects as its own user). If the `docker compose` plugin is installed,
`docker compose config` (which only parses and validates) is run as well, with the Redis passwords set.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from lingxi.redis_acl import SERVICE_KEYS, password_variable

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

REDIS = "redis"
# Publishes a fixed host port, so it is the one service that `--scale` can't multiply as is.
GATEWAY = "gateway"
BUILD_ARG = "SERVICE"
HTTP_PORT = "8080"
ACL_FILE_VARIABLE = "LINGXI_REDIS_ACL_FILE"
ACL_FILE_DEFAULT = "./.lingxi/redis/users.acl"
"""Where `lingxi redis acl -o` writes the ACL file by the docs (.lingxi/ is kept out of git)."""
SECRETS_DIR = "/run/secrets"
REQUIRED = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):?\?(?P<message>[^}]*)\}")
"""``${NAME:?message}`` (or ``${NAME?message}``): compose refuses to run without NAME, saying message."""


# --------------------------------------------------------------------------- helpers


def _service_dirs() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict), "docker-compose.yml must be a mapping at the top level"
    assert isinstance(data.get("services"), dict), "docker-compose.yml has no `services:` mapping"
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


@pytest.fixture(scope="module")
def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The Lingxi services (everything except Redis)."""
    return {name: svc for name, svc in services.items() if name != REDIS}


def _environment(svc: dict[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {k: v for k, v in pairs}
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _build_args(build: dict[str, Any]) -> dict[str, str]:
    args = build.get("args") or {}
    if isinstance(args, list):
        return dict(item.split("=", 1) for item in args if "=" in item)
    return {str(k): str(v) for k, v in args.items()}


def _volume(volume: Any) -> tuple[str | None, str]:
    """(source, target) of a short (`src:dst[:mode]`, `dst`) or long volume entry."""
    if isinstance(volume, dict):
        return volume.get("source"), str(volume.get("target"))
    parts = str(volume).split(":")
    return (parts[0], parts[1]) if len(parts) > 1 else (None, parts[0])


def _command_words(value: Any) -> list[str]:
    return [str(w) for w in value] if isinstance(value, list) else str(value or "").split()


def _container_port(port: Any) -> str:
    if isinstance(port, dict):
        return str(port.get("target"))
    text = str(port).rsplit("/", 1)[0]  # drop /tcp
    return text.rsplit(":", 1)[-1]


def _console_scripts(service: str) -> tuple[str | None, dict[str, str]]:
    meta = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text(encoding="utf-8"))
    project = meta.get("project", {})
    return project.get("name"), project.get("scripts", {})


# Dockerfile parsing: enough of the syntax for the checks below (continuations, comments, stages).


def _instructions(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and current):
            continue  # comments (also inside a continuation) and blank continuation lines
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        if current.strip():
            keyword, _, rest = current.strip().partition(" ")
            out.append((keyword.upper(), rest.strip()))
        current = ""
    return out


def _stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions:
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def _exec_or_shell(rest: str) -> list[str] | str:
    """JSON (exec) form as a list, shell form as a string."""
    if rest.startswith("["):
        try:
            value = json.loads(rest)
        except json.JSONDecodeError:
            return rest
        if isinstance(value, list):
            return [str(v) for v in value]
    return rest


def _strip_flags(rest: str) -> str:
    """HEALTHCHECK --interval=... CMD ... -> CMD ...; COPY --from=x a b -> a b."""
    words = rest.split(" ")
    while words and words[0].startswith("--"):
        words.pop(0)
    return " ".join(words)


@pytest.fixture(scope="module")
def dockerfile_stages() -> list[list[tuple[str, str]]]:
    assert DOCKERFILE.is_file(), f"{DOCKERFILE} is missing"
    stages = _stages(_instructions(DOCKERFILE.read_text(encoding="utf-8")))
    assert stages, f"{DOCKERFILE} has no FROM instruction"
    return stages


# .dockerignore matching, following Docker's rules: patterns relative to the context root, `*` and
# `?` stay inside one path segment, `**` spans segments, a pattern that matches a parent directory
# excludes everything below it, `!` re-includes, and the last matching pattern wins.


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        elif pattern[i] == "[":
            end = pattern.find("]", i)
            out, i = (out + pattern[i : end + 1], end + 1) if end > i else (out + r"\[", i + 1)
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out + r"\Z")


def _dockerignore_rules() -> list[tuple[bool, re.Pattern[str]]]:
    if not DOCKERIGNORE.is_file():
        return []
    rules = []
    for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:].strip() if negate else line
        pattern = pattern.strip("/").removeprefix("./")
        if pattern:
            rules.append((negate, _ignore_regex(pattern)))
    return rules


def _is_ignored(relpath: str, rules: list[tuple[bool, re.Pattern[str]]]) -> bool:
    parts = relpath.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for negate, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            ignored = not negate
    return ignored


# --------------------------------------------------------------------------- compose: Redis


def test_redis_service_has_aof_volume_and_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    assert REDIS in services, f"docker-compose.yml has no `{REDIS}` service"
    redis = services[REDIS]
    assert str(redis.get("image", "")).startswith("redis:"), (
        f"service `{REDIS}` should run a redis image, found image={redis.get('image')!r}"
    )
    words = _command_words(redis.get("command"))
    flat = " ".join(words)
    assert re.search(r"--appendonly\s+yes\b", flat), (
        f"service `{REDIS}` must start redis-server with `--appendonly yes` (AOF), command is {flat!r}"
    )
    volumes = redis.get("volumes") or []
    targets = [_volume(v)[1] for v in volumes]
    assert "/data" in targets, f"service `{REDIS}` must mount a volume at /data, volumes are {volumes!r}"
    health = redis.get("healthcheck") or {}
    assert "ping" in _command_words(health.get("test")), (
        f"service `{REDIS}` needs a healthcheck running `redis-cli ping`, found {health!r}"
    )


def test_redis_data_volume_is_a_named_volume(compose: dict[str, Any]) -> None:
    volumes = compose["services"][REDIS].get("volumes") or []
    declared = set((compose.get("volumes") or {}).keys())
    for volume in volumes:
        source, target = _volume(volume)
        if target == "/data":
            assert source in declared, (
                f"Redis /data is mounted from {source!r}, which is not a named volume declared under "
                f"top-level `volumes:` ({sorted(declared)}): its data would not survive `compose down`"
            )


def _secret_target(entry: Any) -> tuple[str, str]:
    """(secret name, path in the container) of a service's short (`name`) or long `secrets:` entry."""
    if isinstance(entry, dict):
        name = str(entry.get("source"))
        target = str(entry.get("target") or name)
    else:
        name = target = str(entry)
    return name, target if target.startswith("/") else f"{SECRETS_DIR}/{target}"


def test_redis_loads_its_acl_file_from_a_compose_secret(compose: dict[str, Any]) -> None:
    """Redis starts with --aclfile on a compose secret whose file is $LINGXI_REDIS_ACL_FILE, by default
    the one `lingxi redis acl -o` writes; the healthcheck's PING is what the default user may run."""
    redis = compose["services"][REDIS]
    words = _command_words(redis.get("command"))
    assert "--aclfile" in words[:-1], (
        f"service `{REDIS}` must start redis-server with `--aclfile <file>` (the users of `lingxi redis "
        f"acl`), command is {words!r}"
    )
    path = words[words.index("--aclfile") + 1]
    mounted = dict(_secret_target(entry)[::-1] for entry in redis.get("secrets") or [])
    assert path in mounted, (
        f"service `{REDIS}`: --aclfile {path} is none of its compose secrets {sorted(mounted)} "
        f"(mounted at {SECRETS_DIR}/<name>)"
    )
    declared = compose.get("secrets") or {}
    secret = declared.get(mounted[path])
    assert isinstance(secret, dict), f"secret `{mounted[path]}` is not declared under top-level `secrets:`"
    assert secret.get("file") == f"${{{ACL_FILE_VARIABLE}:-{ACL_FILE_DEFAULT}}}", (
        f"secret `{mounted[path]}`: file is {secret.get('file')!r}, expected "
        f"${{{ACL_FILE_VARIABLE}:-{ACL_FILE_DEFAULT}}} (where deploy/README.md writes it)"
    )
    assert "environment" not in secret, "the ACL file is a file `lingxi redis acl` writes"
    assert _command_words((redis.get("healthcheck") or {}).get("test"))[-2:] == ["redis-cli", "ping"], (
        f"service `{REDIS}`: the healthcheck must stay `redis-cli ping` with no credentials: the default "
        "user may PING and nothing else"
    )


def test_each_service_is_its_own_redis_user(app_services: dict[str, dict[str, Any]]) -> None:
    """Each service's LINGXI_REDIS_PASSWORD is ${LINGXI_REDIS_PASSWORD_<SERVICE>:?how}: its own user's
    password (the variable `lingxi redis acl` reads), required, with a message saying how to set it."""
    variables: dict[str, str] = {}
    for name, svc in app_services.items():
        assert name in SERVICE_KEYS, f"service `{name}` has no Redis user in lingxi.redis_acl"
        env = _environment(svc)
        value = env.get("LINGXI_REDIS_PASSWORD", "")
        required = REQUIRED.fullmatch(value)
        assert required, (
            f"service `{name}`: LINGXI_REDIS_PASSWORD={value!r}, expected "
            f"${{{password_variable(name)}:?<how to set it>}} (required: without it the service would be "
            "the default user, which may only PING)"
        )
        assert required["name"] == password_variable(name), (
            f"service `{name}` reads its Redis password from {required['name']}, but its user's password is "
            f"{password_variable(name)} (what `lingxi redis acl` hashes into the ACL file)"
        )
        assert "lingxi redis acl" in required["message"], (
            f"service `{name}`: the message for a missing {required['name']} ({required['message']!r}) "
            "should say how to set it (lingxi redis acl)"
        )
        assert "LINGXI_REDIS_USERNAME" not in env, f"service `{name}`: its user is lingxi-{name}, the default"
        assert urlsplit(env.get("LINGXI_REDIS_URL", "")).password is None, (
            f"service `{name}`: LINGXI_REDIS_URL holds a password (its own is LINGXI_REDIS_PASSWORD)"
        )
        variables[name] = required["name"]
    assert len(set(variables.values())) == len(variables), f"services share a Redis password: {variables}"


# --------------------------------------------------------------------------- compose: services


def test_compose_services_match_service_directories(app_services: dict[str, dict[str, Any]]) -> None:
    dirs = set(_service_dirs())
    assert dirs, "no services/*/pyproject.toml found"
    missing = sorted(dirs - set(app_services))
    extra = sorted(set(app_services) - dirs)
    assert not missing, f"services/ has {missing} but docker-compose.yml has no service of that name"
    assert not extra, f"docker-compose.yml has services {extra} with no matching services/<name>/ directory"


def test_each_service_builds_from_the_workspace(app_services: dict[str, dict[str, Any]]) -> None:
    for name, svc in app_services.items():
        build = svc.get("build")
        assert isinstance(build, dict), f"service `{name}` needs a `build:` mapping, found {build!r}"
        context = ROOT / str(build.get("context", "."))
        assert context.is_dir(), f"service `{name}`: build context {context} does not exist"
        dockerfile = context / str(build.get("dockerfile", "Dockerfile"))
        assert dockerfile.is_file(), f"service `{name}`: dockerfile {dockerfile} does not exist"
        for needed in ("pyproject.toml", "uv.lock", "shared", "services"):
            assert (context / needed).exists(), (
                f"service `{name}`: build context {context} lacks {needed} (the context must be the "
                "workspace root)"
            )
        arg = _build_args(build).get(BUILD_ARG)
        assert arg, f"service `{name}`: build args must set {BUILD_ARG}, found {build.get('args')!r}"
        assert arg == name, f"service `{name}` builds with {BUILD_ARG}={arg!r}: it would run another service"
        pyproject = ROOT / "services" / arg / "pyproject.toml"
        assert pyproject.is_file(), f"service `{name}`: {BUILD_ARG}={arg!r} but {pyproject} does not exist"
        project_name, scripts = _console_scripts(arg)
        assert project_name == f"lingxi-{arg}", (
            f"{pyproject}: project name is {project_name!r}, the Dockerfile installs `lingxi-{arg}`"
        )
        assert f"lingxi-{arg}" in scripts, (
            f"{pyproject} declares no console script `lingxi-{arg}` (has {sorted(scripts)}), "
            "which is what the image runs"
        )
        assert scripts[f"lingxi-{arg}"].startswith(f"lingxi_{arg}"), (
            f"{pyproject}: console script lingxi-{arg} points at {scripts[f'lingxi-{arg}']!r}, "
            f"expected a function in module lingxi_{arg}"
        )


def test_every_built_service_is_in_the_lock(app_services: dict[str, dict[str, Any]]) -> None:
    lock = tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))
    locked = {pkg["name"] for pkg in lock.get("package", [])}
    for name, svc in app_services.items():
        package = f"lingxi-{_build_args(svc.get('build') or {}).get(BUILD_ARG, name)}"
        assert package in locked, (
            f"service `{name}`: {package} is not in uv.lock, so `uv sync --frozen --package {package}` "
            "in the image build would fail (run `uv lock`)"
        )


def test_scalable_services_have_no_container_name_or_host_ports(
    app_services: dict[str, dict[str, Any]],
) -> None:
    for name, svc in app_services.items():
        assert "container_name" not in svc, (
            f"service `{name}` sets container_name={svc['container_name']!r}: `--scale {name}=N` would fail"
        )
        if name != GATEWAY:
            assert not svc.get("ports"), (
                f"service `{name}` publishes host ports {svc['ports']!r}: replicas from "
                f"`--scale {name}=N` would clash on the host port; only the gateway is exposed"
            )


def test_gateway_publishes_its_http_port(app_services: dict[str, dict[str, Any]]) -> None:
    ports = app_services[GATEWAY].get("ports") or []
    assert ports, f"service `{GATEWAY}` must publish its HTTP port so devices can reach the API"
    targets = [_container_port(p) for p in ports]
    assert HTTP_PORT in targets, (
        f"service `{GATEWAY}` publishes container ports {targets}, but the API listens on {HTTP_PORT}"
    )


def test_every_service_has_a_working_healthcheck(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        health = svc.get("healthcheck")
        assert isinstance(health, dict), f"service `{name}` has no healthcheck"
        assert not health.get("disable"), f"service `{name}` disables its healthcheck"
        test = _command_words(health.get("test"))
        assert test, f"service `{name}` healthcheck has no test: {health!r}"
        assert test[0] != "NONE", f"service `{name}` healthcheck test is NONE (disabled): {health!r}"
        if name != REDIS:
            assert any("/healthz" in w for w in test), (
                f"service `{name}` healthcheck should probe /healthz, test is {test!r}"
            )
            assert any(f":{HTTP_PORT}/" in w or "LINGXI_HTTP_PORT" in w for w in test), (
                f"service `{name}` healthcheck should probe port {HTTP_PORT}, test is {test!r}"
            )


def test_every_service_waits_for_healthy_redis(app_services: dict[str, dict[str, Any]]) -> None:
    for name, svc in app_services.items():
        depends = svc.get("depends_on")
        expected = f"`depends_on: {{{REDIS}: {{condition: service_healthy}}}}`"
        assert isinstance(depends, dict), (
            f"service `{name}` must declare {expected} (mapping form), found {depends!r}"
        )
        assert REDIS in depends, f"service `{name}` must declare {expected}, found {depends!r}"
        condition = (depends[REDIS] or {}).get("condition")
        assert condition == "service_healthy", (
            f"service `{name}` depends on {REDIS} with condition {condition!r}, expected service_healthy"
        )


def test_every_service_restarts(app_services: dict[str, dict[str, Any]]) -> None:
    for name, svc in app_services.items():
        assert svc.get("restart") in {"unless-stopped", "always"}, (
            f"service `{name}` has restart={svc.get('restart')!r}: a service that exits (e.g. Redis "
            "lost its consumer groups) would stay down"
        )


def test_environment_points_at_compose_redis(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        if name == REDIS:
            continue
        env = _environment(svc)
        url = env.get("LINGXI_REDIS_URL")
        assert url, f"service `{name}` does not set LINGXI_REDIS_URL"
        parts = urlsplit(url)
        assert parts.scheme in {"redis", "rediss"}, (
            f"service `{name}`: LINGXI_REDIS_URL={url!r} is not redis://"
        )
        assert parts.hostname == REDIS, (
            f"service `{name}`: LINGXI_REDIS_URL={url!r} points at host {parts.hostname!r}, "
            f"not the compose service `{REDIS}`"
        )
        assert parts.port in {None, 6379}, (
            f"service `{name}`: LINGXI_REDIS_URL={url!r} uses port {parts.port}"
        )
        assert env.get("LINGXI_HTTP_PORT") == HTTP_PORT, (
            f"service `{name}`: LINGXI_HTTP_PORT={env.get('LINGXI_HTTP_PORT')!r}, the probes and the "
            f"published port expect {HTTP_PORT}"
        )
        assert env.get("LINGXI_LOG_FORMAT") == "json", (
            f"service `{name}`: LINGXI_LOG_FORMAT={env.get('LINGXI_LOG_FORMAT')!r}, containers log JSON lines"
        )
        assert "LINGXI_REPLICA" not in env, (
            f"service `{name}` sets LINGXI_REPLICA: every replica from --scale would share one consumer "
            "name; leave it unset so the runtime uses the container hostname"
        )


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_runs_the_service_console_script(dockerfile_stages: list[list[tuple[str, str]]]) -> None:
    final = dockerfile_stages[-1]
    args = [rest.split("=", 1)[0].strip() for keyword, rest in final if keyword == "ARG"]
    assert BUILD_ARG in args, f"the final stage of {DOCKERFILE} must declare `ARG {BUILD_ARG}`"
    # ARGs are gone at run time: the CMD must use an ENV that the final stage sets from the arg.
    carried: set[str] = set()
    arg_ref = re.compile(r"\$\{?" + BUILD_ARG + r"\b")
    for keyword, rest in final:
        if keyword == "ENV":
            for key, value in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)=(\S+)", rest):
                if arg_ref.search(value):
                    carried.add(key)
    assert carried, (
        f"the final stage of {DOCKERFILE} sets no ENV from ${{{BUILD_ARG}}}: the CMD cannot know which "
        "service to run once the build args are gone"
    )
    starts = [(k, _exec_or_shell(rest)) for k, rest in final if k in {"CMD", "ENTRYPOINT"}]
    assert starts, f"the final stage of {DOCKERFILE} has no CMD or ENTRYPOINT"
    script = re.compile(r"lingxi-\$\{?(" + "|".join(map(re.escape, sorted(carried))) + r")\b")
    keyword, start = starts[-1]
    text = " ".join(start) if isinstance(start, list) else start
    assert script.search(text), (
        f"{DOCKERFILE} {keyword} {start!r} must run the console script lingxi-${{VAR}} with VAR one of "
        f"{sorted(carried)} (set from the {BUILD_ARG} build arg)"
    )
    # Signals: the service must be PID 1 (or under an init), not a child of a shell that ignores SIGTERM.
    if isinstance(start, list):
        if Path(start[0]).name in {"sh", "bash", "dash"}:
            assert start[-1].lstrip().startswith("exec "), (
                f"{DOCKERFILE} {keyword} runs a shell ({start!r}) without `exec`: SIGTERM would reach "
                "the shell, not the service"
            )
    else:
        assert start.lstrip().startswith("exec "), (
            f"{DOCKERFILE} {keyword} uses shell form without `exec` ({start!r}): the service would not "
            "be PID 1 and would miss SIGTERM"
        )


def test_dockerfile_installs_only_the_chosen_service(dockerfile_stages: list[list[tuple[str, str]]]) -> None:
    runs = [rest for stage in dockerfile_stages for keyword, rest in stage if keyword == "RUN"]
    syncs = [r for r in runs if "uv sync" in r]
    assert syncs, f"{DOCKERFILE} never runs `uv sync`"
    final_sync = syncs[-1]
    for flag in ("--frozen", "--no-dev"):
        assert flag in final_sync, f"{DOCKERFILE}: the last `uv sync` lacks {flag}: {final_sync!r}"
    assert re.search(r"--package[ =]\"?lingxi-\$\{?" + BUILD_ARG + r"\b", final_sync), (
        f"{DOCKERFILE}: the last `uv sync` must install `--package lingxi-${{{BUILD_ARG}}}`: {final_sync!r}"
    )
    assert any("pip install" in r and "uv" in r for r in runs), (
        f"{DOCKERFILE} should install uv from the package index with pip"
    )


def test_dockerfile_runtime_is_non_root_with_healthcheck(
    dockerfile_stages: list[list[tuple[str, str]]],
) -> None:
    final = dockerfile_stages[-1]
    users = [rest.split(":")[0] for keyword, rest in final if keyword == "USER"]
    assert users, f"the final stage of {DOCKERFILE} has no USER: the service would run as root"
    assert users[-1] not in {"root", "0"}, f"the final stage of {DOCKERFILE} runs as {users[-1]!r}"
    checks = [_strip_flags(rest) for keyword, rest in final if keyword == "HEALTHCHECK"]
    assert checks, f"the final stage of {DOCKERFILE} has no HEALTHCHECK"
    assert "/healthz" in checks[-1], f"{DOCKERFILE} HEALTHCHECK should probe /healthz: {checks[-1]!r}"
    envs = " ".join(rest for keyword, rest in final if keyword == "ENV")
    assert re.search(r"PATH=/app/\.venv/bin", envs), f"{DOCKERFILE} must put /app/.venv/bin on PATH"


def test_dockerfile_copies_exist_and_reach_the_build_context(
    dockerfile_stages: list[list[tuple[str, str]]],
) -> None:
    rules = _dockerignore_rules()
    for stage in dockerfile_stages:
        for keyword, rest in stage:
            if keyword not in {"COPY", "ADD"} or "--from" in rest:
                continue
            form = _exec_or_shell(_strip_flags(rest))
            words = form if isinstance(form, list) else form.split()
            for source in words[:-1]:
                path = ROOT / source
                assert path.exists(), f"{DOCKERFILE}: {keyword} source {source!r} does not exist in {ROOT}"
                relative = source.strip("/").removeprefix("./")
                assert not _is_ignored(relative, rules), (
                    f"{DOCKERFILE}: {keyword} source {source!r} is excluded by {DOCKERIGNORE}"
                )
    # Everything the package builds need must be sent to the builder.
    needed = ["pyproject.toml", "uv.lock", "shared/pyproject.toml"]
    for service in _service_dirs():
        needed.append(f"services/{service}/pyproject.toml")
    for src in [ROOT / "shared" / "src", *(ROOT / "services").glob("*/src")]:
        needed += [p.relative_to(ROOT).as_posix() for p in src.rglob("*.py") if "__pycache__" not in p.parts]
    excluded = [p for p in needed if _is_ignored(p, rules)]
    assert not excluded, (
        f"{DOCKERIGNORE} keeps files the image build needs out of the context: {excluded[:10]}"
    )


def test_dockerignore_keeps_local_state_out() -> None:
    rules = _dockerignore_rules()
    assert rules, f"{DOCKERIGNORE} is missing or empty: the local .venv and .git would be sent to the builder"
    for path in (".venv/bin/python", ".git/HEAD", "services/assistant/.venv/x"):
        assert _is_ignored(path, rules), f"{DOCKERIGNORE} does not exclude {path}"


# --------------------------------------------------------------------------- docker compose config


def _compose_command() -> list[str] | None:
    candidates = [["docker", "compose"], ["docker-compose"]]
    for cmd in candidates:
        if shutil.which(cmd[0]) is None:
            continue
        probe = subprocess.run([*cmd, "version"], capture_output=True, text=True, timeout=30, check=False)
        if probe.returncode == 0:
            return cmd
    return None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    """`docker compose config` accepts the file given each service's Redis password and an ACL file, and
    refuses it without the passwords, naming the variable."""
    cmd = _compose_command()
    if cmd is None:
        pytest.skip(
            "the docker compose plugin (or docker-compose) is not installed here, so "
            "`docker compose config` could not validate docker-compose.yml; the static checks above still ran"
        )
    services = set(yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))["services"]) - {REDIS}
    passwords = {password_variable(name): f"compose-config-{name}-0123456789" for name in services}
    acl = tmp_path / "users.acl"
    acl.write_text("user default on nopass resetkeys resetchannels -@all +ping\n", encoding="utf-8")
    # Only what the test gives: no password from the shell, and an empty env file instead of a .env.
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINGXI_REDIS_")}
    env_file = tmp_path / "empty.env"
    env_file.write_text("", encoding="utf-8")
    base = [*cmd, "--env-file", str(env_file), "-f", str(COMPOSE_FILE), "config", "--quiet"]

    def config(extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            base, cwd=ROOT, env={**env, **extra}, capture_output=True, text=True, timeout=60, check=False
        )

    result = config({**passwords, ACL_FILE_VARIABLE: str(acl)})
    assert result.returncode == 0, f"`{' '.join(cmd)} config` rejects docker-compose.yml:\n{result.stderr}"
    missing = config({ACL_FILE_VARIABLE: str(acl)})
    assert missing.returncode != 0, "`docker compose config` accepts the file without any Redis password"
    assert "LINGXI_REDIS_PASSWORD_" in missing.stderr, (
        f"without the Redis passwords, compose should name the missing variable:\n{missing.stderr}"
    )
