"""The container image without a Docker engine: the Dockerfile parsed, its entry command and
its health check run here exactly as it calls them (the image's venv is this venv, its folders
are temporary ones), its user and its settings checked, and .dockerignore against its copies."""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import re
import shlex
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from processes import answers, free_port
from servers import eventually

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
# The image's folders, each stood for here by one of this test's.
IMAGE_VENV = "/opt/regionwatch"
IMAGE_STATE = "/var/lib/regionwatch"
IMAGE_CONFIG = "/etc/regionwatch"
SENSITIVE = re.compile(r"token|secret|passw(or)?d|api[_-]?key|credential", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, continuation lines joined, comments left out."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        if raw.lstrip().startswith("#") or not raw.strip():
            continue
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append(pending + raw)
        pending = ""
    found = []
    for line in lines:
        keyword, _, arguments = line.strip().partition(" ")
        found.append(Instruction(keyword.upper(), " ".join(arguments.split())))
    return found


def final_stage(text: str) -> list[Instruction]:
    """The instructions of the last stage: what the image runs with."""
    every = instructions(text)
    last_from = max(i for i, instruction in enumerate(every) if instruction.keyword == "FROM")
    return every[last_from + 1 :]


def settings(stage: list[Instruction], keyword: str) -> list[tuple[str, str]]:
    """The NAME=value pairs (or bare NAMEs, valued "") of the stage's ENV or ARG instructions."""
    pairs = []
    for instruction in stage:
        if instruction.keyword == keyword:
            for word in shlex.split(instruction.arguments):
                name, _, value = word.partition("=")
                pairs.append((name, value))
    return pairs


def one(stage: list[Instruction], keyword: str) -> str:
    """The arguments of the stage's last `keyword` instruction, as Docker takes the last."""
    return [i.arguments for i in stage if i.keyword == keyword][-1]


def exec_form(arguments: str) -> list[str]:
    command = json.loads(arguments)
    assert isinstance(command, list) and all(isinstance(word, str) for word in command)
    return command


def secret_settings(text: str) -> list[str]:
    """Every ENV or ARG, in any stage, whose name or value speaks of a token, a secret or a
    password and that sets a value: none belongs in an image, where `docker history` shows it."""
    every = instructions(text)
    found = []
    for keyword in ("ENV", "ARG"):
        for name, value in settings(every, keyword):
            if value and (SENSITIVE.search(name) or SENSITIVE.search(value)):
                found.append(f"{keyword} {name}")
    return found


def here(value: str, places: dict[str, str]) -> str:
    """`value` with the image's folders replaced by this test's."""
    for image, local in places.items():
        value = value.replace(image, local)
    return value


def image_environment(stage: list[Instruction], places: dict[str, str]) -> dict[str, str]:
    """The environment the image's processes get: this one, then the Dockerfile's ENV."""
    env = dict(os.environ)
    for name, value in settings(stage, "ENV"):
        expanded = re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), ""), value)
        env[name] = here(expanded, places)
    return env


def test_the_image_runs_as_a_non_root_numeric_user() -> None:
    """The final stage's USER is a numeric uid and gid, neither of them root (Kubernetes'
    runAsNonRoot can verify only a numeric user)."""
    user = one(final_stage(DOCKERFILE.read_text(encoding="utf-8")), "USER")
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, user
    assert gid.isdigit() and int(gid) != 0, user


def test_the_dockerfile_sets_no_token_secret_or_password() -> None:
    """No ENV or ARG of the Dockerfile carries a token, a secret or a password."""
    assert secret_settings(DOCKERFILE.read_text(encoding="utf-8")) == []


def test_the_secret_check_finds_a_token_set_in_the_image() -> None:
    """The check above flags a token set by ENV or ARG, by its name or by its value, and lets
    a name without a value pass (a build argument declared, not set)."""
    text = (
        "FROM python:3.11-slim\nARG PIP_PASSWORD=hunter2\nARG NOT_SET_TOKEN\n"
        "ENV A=1 \\\n    REGIONWATCH_TOKEN=t0ken\nENV HOOK=https://x.example/?secret=1\n"
    )
    assert secret_settings(text) == ["ENV REGIONWATCH_TOKEN", "ENV HOOK", "ARG PIP_PASSWORD"]


def test_the_image_needs_nothing_but_python_to_check_its_health() -> None:
    """The health check is the image's Python, never curl or wget (the image has neither),
    and the image starts `regionwatch run` with the mounted configuration."""
    stage = final_stage(DOCKERFILE.read_text(encoding="utf-8"))
    options, _, command = one(stage, "HEALTHCHECK").partition("CMD ")
    assert exec_form(command)[:3] == ["python", "-m", "regionwatch.healthcheck"]
    assert "--start-period=" in options
    assert exec_form(one(stage, "ENTRYPOINT")) == ["regionwatch"]
    assert exec_form(one(stage, "CMD")) == ["run", "--config", f"{IMAGE_CONFIG}/regionwatch.yaml"]


def test_the_build_context_keeps_what_the_image_copies_and_leaves_out_the_rest() -> None:
    """Every source the Dockerfile copies from the context exists and is not excluded by
    .dockerignore; the venv, git, stores and tests are excluded."""
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]

    def ignored(path: str) -> bool:
        return any(fnmatch.fnmatch(path, p.removeprefix("**/")) for p in patterns)

    copied = [
        word
        for instruction in instructions(DOCKERFILE.read_text(encoding="utf-8"))
        if instruction.keyword == "COPY" and "--from=" not in instruction.arguments
        for word in instruction.arguments.split()[:-1]
    ]
    assert {"uv.lock", "monitor", "regionwatch"} <= set(copied)
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not ignored(source), source
    for unwanted in (".venv", ".git", "regionwatch.db", "tests", "__pycache__"):
        assert ignored(unwanted), unwanted


@pytest.mark.slow
async def test_the_images_command_serves_and_its_health_check_follows_the_service(
    tmp_path: Path,
) -> None:
    """ENTRYPOINT and CMD, run with the image's environment, serve the API; the HEALTHCHECK
    command exits 0 while it runs, and 1 with one line once it has stopped."""
    stage = final_stage(DOCKERFILE.read_text(encoding="utf-8"))
    places = {
        IMAGE_VENV: sys.prefix,
        IMAGE_STATE: str(tmp_path / "state"),
        IMAGE_CONFIG: str(tmp_path / "etc"),
    }
    (tmp_path / "state").mkdir()
    (tmp_path / "etc").mkdir()
    port = free_port()
    # The image's configuration listens on 0.0.0.0:8000; here, loopback and a free port.
    (tmp_path / "etc" / "regionwatch.yaml").write_text(
        "site: {hostname: blog.example.com}\n"
        f"regions: {{westeurope: {{address: 127.0.0.2, port: {free_port()}}}}}\n"
        f"api: {{listen: '127.0.0.1:{port}'}}\n"
        f"storage: {{path: {IMAGE_STATE}/regionwatch.db}}\n".replace(
            IMAGE_STATE, places[IMAGE_STATE]
        ),
        encoding="utf-8",
    )
    env = image_environment(stage, places)
    env["REGIONWATCH_HEALTHCHECK_URL"] = env["REGIONWATCH_HEALTHCHECK_URL"].replace(
        ":8000/", f":{port}/"
    )
    command = [here(word, places) for word in exec_form(one(stage, "ENTRYPOINT"))]
    command += [here(word, places) for word in exec_form(one(stage, "CMD"))]
    health = exec_form(one(stage, "HEALTHCHECK").partition("CMD ")[2])

    async def check_health() -> tuple[int, str]:
        process = await asyncio.create_subprocess_exec(
            *health, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        _, err = await asyncio.wait_for(process.communicate(), timeout=30)
        assert process.returncode is not None
        return process.returncode, err.decode()

    with (tmp_path / "stderr.log").open("wb") as log:
        service = await asyncio.create_subprocess_exec(
            *command,
            env=env,
            cwd=here(one(stage, "WORKDIR"), places),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=log,
        )
    try:
        await eventually(lambda: answers(f"http://127.0.0.1:{port}/livez"), timeout=60)
        assert await check_health() == (0, "")
    finally:
        if service.returncode is None:
            service.send_signal(signal.SIGTERM)
        await asyncio.wait_for(service.wait(), timeout=30)
    assert service.returncode == 0
    assert (tmp_path / "state" / "regionwatch.db").exists()
    code, err = await check_health()
    assert code == 1
    assert err.startswith("regionwatch healthcheck: ") and err.count("\n") == 1, err
