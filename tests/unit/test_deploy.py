"""The deployment files under deploy/ (and the docs that describe contracts): parsed and checked, not run.

What must hold: every setting an instance or manifest sets is one `Settings.load` reads; every instance serves
known municipalities (Meinerzhagen and Kierspe exactly their own); every container runs `kim run <service>`
or `kim migrate`, as a non-root user; overlays reference the base and files that exist; nothing under
deploy/ holds a secret value.
"""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from sqlalchemy.engine import make_url

from services.cli import MIGRATED, SERVICE_CLASSES
from services.shared.events import CATALOGUE, RESIDENCE_STATUSES
from services.shared.municipalities import MUNICIPALITIES
from services.shared.auth import Role
from services.shared.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
RUNNABLE = set(SERVICE_CLASSES)  # what `kim run NAME` accepts
MEINERZHAGEN, KIERSPE = "05962036", "05962028"
INSTANCES = {
    "maerkischer-kreis": set(MUNICIPALITIES),
    "meinerzhagen": {MEINERZHAGEN},
    "kierspe": {KIERSPE},
}
ENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")


# helpers -----------------------------------------------------------------------------------------------------

def known_settings() -> set[str]:
    """The environment variables `Settings.load` reads, taken from its source text."""
    source = (ROOT / "services/shared/settings.py").read_text(encoding="utf-8")
    load = source[source.index("def load("):]
    names = set(re.findall(r'"(KIM_[A-Z_]+|AMQP_URI)"', load))
    # KIM_<SERVICE>_DB_URL is matched by prefix and suffix in Settings.load
    names |= {f"KIM_{service.upper()}_DB_URL" for service in MIGRATED}
    return names


def parse_env(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = ENV_LINE.match(line)
        assert match, f"{path.relative_to(ROOT)}:{number}: not KEY=VALUE: {raw!r}"
        key, value = match.groups()
        assert key not in values, f"{path.relative_to(ROOT)}: {key} set twice"
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def env_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file() and (p.name.endswith(".env") or p.name.endswith(".env.example"))
                  and not is_local_secret(p))


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file() and re.search(r"\.ya?ml(\.example)?$", p.name))


def is_local_secret(path: Path) -> bool:
    """A gitignored file an operator put in place (deploy/secrets/<instance>.*): not part of the repository."""
    rel = path.relative_to(DEPLOY)
    if rel.parts[0] == "secrets" and not path.name.endswith(".example"):
        return True
    return path.suffix in (".pem", ".key") or path.name == ".env"


def load_yaml(path: Path) -> list:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


def compose() -> dict:
    (doc,) = load_yaml(DEPLOY / "compose.yaml")
    return doc


def kustomization(folder: Path) -> dict:
    (doc,) = load_yaml(folder / "kustomization.yaml")
    return doc


def base_resources() -> list[dict]:
    docs = []
    for name in kustomization(K8S / "base")["resources"]:
        docs += load_yaml(K8S / "base" / name)
    return docs


def of_kind(kind: str) -> list[dict]:
    return [doc for doc in base_resources() if doc["kind"] == kind]


def interpolate(text: str, instance: str) -> str:
    return re.sub(r"\$\{INSTANCE[^}]*\}", instance, text)


SECRET_PATTERNS = [
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"), "a private key"),
    (re.compile(r"(?<!\{)\bKIM_JWT_SECRET[=:]\s*(?!\$\{|\"\"|''|\s*$|\s*#)\S"), "a KIM_JWT_SECRET value"),
    (re.compile(r"(?<!\{)\b[A-Z_]*(?:PASSWORD|_PASS|TOKEN|SECRET)[=:][ \t]*(?!\$\{|\"\"|''|<)[^\s#]"),
     "a password, token or secret value"),
    # credentials inside a URL, unless a ${VARIABLE} or a <placeholder>
    (re.compile(r"://[^:/@\s\"']+:(?!\$\{|<)[^@\s\"']+@"), "a password in a URL"),
]


def secret_findings(text: str) -> list[str]:
    return [what for pattern, what in SECRET_PATTERNS if pattern.search(text)]


# parsing -----------------------------------------------------------------------------------------------------

def test_the_deploy_tree_has_what_the_brief_promises():
    for rel in ("Dockerfile", "compose.yaml", "README.md", "k8s/base/kustomization.yaml", ".gitignore",
                "secrets/instance.env.example", "secrets/jwt-public-key.pem.example",
                "k8s/base/secret.yaml.example"):
        assert (DEPLOY / rel).is_file(), rel
    assert list((DEPLOY / "postgres-init").glob("*.sh")), "no PostgreSQL init script"
    assert {p.stem for p in (DEPLOY / "instances").glob("*.env")} == set(INSTANCES)
    assert {p.name for p in (K8S / "overlays").iterdir() if p.is_dir()} == set(INSTANCES)


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses_to_mappings(path):
    docs = load_yaml(path)
    assert docs, f"{path} is empty"
    assert all(isinstance(doc, dict) for doc in docs)
    if "k8s" in path.relative_to(DEPLOY).parts and path.name != "kustomization.yaml":
        for doc in docs:
            assert {"apiVersion", "kind", "metadata"} <= set(doc), f"{path}: not a Kubernetes object"


@pytest.mark.parametrize("path", env_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_env_file_parses(path):
    assert parse_env(path), f"{path} sets nothing"


# settings ----------------------------------------------------------------------------------------------------

def test_known_settings_come_from_settings_load():
    known = known_settings()
    assert {"AMQP_URI", "KIM_MUNICIPALITIES", "KIM_CORS_ORIGINS", "KIM_JWT_ALGORITHMS", "KIM_JWT_PUBLIC_KEY_FILE",
            "KIM_JWT_ISSUER", "KIM_JWT_AUDIENCE", "KIM_GATEWAY_ADDRESS", "KIM_JWT_SECRET",
            "KIM_INTAKE_DB_URL"} <= known
    assert "KIM_LOG_LEVEL" in known and "KIM_INSTANCE" not in known


def settings_set_in_deploy() -> list[tuple[str, str]]:
    """(where, name) for every KIM_* or AMQP_URI variable an env file or a manifest sets."""
    found = []
    for path in env_files():
        found += [(str(path.relative_to(DEPLOY)), key) for key in parse_env(path)]
    for name, service in compose()["services"].items():
        environment = service.get("environment") or {}
        keys = environment if isinstance(environment, dict) else [e.split("=", 1)[0] for e in environment]
        found += [(f"compose.yaml:{name}", key) for key in keys]
    for path in yaml_files():
        if "k8s" not in path.parts:
            continue
        for doc in load_yaml(path):
            found += [(str(path.relative_to(DEPLOY)), key) for key in (doc.get("data") or {})]
            found += [(str(path.relative_to(DEPLOY)), key) for key in (doc.get("stringData") or {})]
            for container in containers(doc):
                found += [(str(path.relative_to(DEPLOY)), env["name"]) for env in container.get("env", [])]
            for gen in doc.get("configMapGenerator", []) + doc.get("secretGenerator", []):
                found += [(str(path.relative_to(DEPLOY)), lit.split("=", 1)[0]) for lit in gen.get("literals", [])]
    return [(where, key) for where, key in found if key.startswith("KIM_") or key == "AMQP_URI"]


def containers(doc: dict) -> list[dict]:
    spec = doc.get("spec") or {}
    pod = (spec.get("template") or {}).get("spec") or {}
    return pod.get("containers", []) + pod.get("initContainers", [])


def test_every_setting_set_in_deploy_is_one_the_settings_know():
    found = settings_set_in_deploy()
    assert len(found) > 20  # the instance env files alone set more
    unknown = sorted({(where, key) for where, key in found if key not in known_settings()})
    assert not unknown, f"settings nobody reads: {unknown}"


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_instance_serves_exactly_its_municipalities(instance):
    for path in (DEPLOY / "instances" / f"{instance}.env", K8S / "overlays" / instance / "config.env"):
        codes = parse_env(path)["KIM_MUNICIPALITIES"].split(",")
        assert all(code in MUNICIPALITIES for code in codes), f"{path}: unknown codes"
        assert len(codes) == len(set(codes)), f"{path}: duplicate codes"
        assert set(codes) == INSTANCES[instance], path
    assert len(INSTANCES["maerkischer-kreis"]) == 15


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_instance_env_loads_into_settings(instance):
    env = parse_env(DEPLOY / "instances" / f"{instance}.env")
    settings = Settings.load({**env, "KIM_JWT_SECRET": None})
    assert set(settings.municipalities) == INSTANCES[instance]
    assert settings.gateway_address == "0.0.0.0:8000"
    assert settings.jwt_algorithms == ("RS256",)
    assert settings.jwt_public_key_file and settings.jwt_public_key_file.startswith("/run/secrets/")
    assert re.fullmatch(r"https://[a-z0-9.-]+\.example\.org/realms/[a-z0-9-]+", settings.jwt_issuer)
    assert settings.jwt_audience == "kim-api"
    assert settings.cors_origins and all(re.fullmatch(r"https://[a-z0-9.-]+\.example\.org", origin)
                                         for origin in settings.cors_origins)
    services = compose()["services"]
    for service in MIGRATED:
        url = make_url(settings.db_url(service))
        assert url.get_backend_name() == "postgresql"
        assert url.host in services, f"{service}: {url.host} is no compose service"
        assert url.password is None, "the password belongs in PGPASSWORD, not in a committed file"
        assert url.database in postgres_init_databases()


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_kubernetes_overlay_config_matches_the_instance_env(instance):
    merged = {**parse_env(K8S / "base" / "config.env"), **parse_env(K8S / "overlays" / instance / "config.env")}
    env = parse_env(DEPLOY / "instances" / f"{instance}.env")
    for key in ("KIM_MUNICIPALITIES", "KIM_CORS_ORIGINS", "KIM_JWT_ALGORITHMS", "KIM_JWT_ISSUER",
                "KIM_JWT_AUDIENCE", "KIM_GATEWAY_ADDRESS"):
        assert merged[key] == env[key], key
    # in Kubernetes the broker and database URLs hold passwords: they come from the Secret only
    assert not {k for k in merged if k == "AMQP_URI" or k.endswith("_DB_URL") or k == "KIM_JWT_SECRET"}


def postgres_init_databases() -> set[str]:
    text = "".join(p.read_text() for p in (DEPLOY / "postgres-init").glob("*.sh"))
    return set(re.findall(r"CREATE DATABASE (\w+)", text))


def test_postgres_init_creates_one_database_per_service():
    assert postgres_init_databases() == {f"kim_{service}" for service in MIGRATED}


# Dockerfile and compose --------------------------------------------------------------------------------------

def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    return [(m.group(1).upper(), m.group(2).strip())
            for m in re.finditer(r"^\s*([A-Za-z]+)\s+(.*)$", text, re.M) if not m.group(0).lstrip().startswith("#")]


def test_dockerfile_installs_the_project_and_runs_kim_as_non_root():
    instructions = dockerfile_instructions()
    froms = [arg for op, arg in instructions if op == "FROM"]
    assert froms and all(arg.split()[0] == "python:3.11-slim" for arg in froms)
    assert any(op == "RUN" and re.search(r"pip install (\S+ )*\.(\s|$)", arg) for op, arg in instructions)
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op == "FROM"):]
    users = [arg for op, arg in final if op == "USER"]
    assert users, "the runtime stage sets no USER"
    user = users[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, "USER must be a numeric non-root uid (runAsNonRoot checks it)"
    assert [arg for op, arg in final if op == "ENTRYPOINT"][-1] == '["kim"]'
    assert [arg for op, arg in final if op == "CMD"][-1] == '["run", "gateway"]'
    env = " ".join(arg for op, arg in final if op == "ENV")
    assert "KIM_GATEWAY_ADDRESS=0.0.0.0:8000" in env


def kim_services() -> dict[str, dict]:
    """The compose services that run the KIM image (built from deploy/Dockerfile)."""
    result = {}
    for name, service in compose()["services"].items():
        build = service.get("build") or {}
        if isinstance(build, dict) and build.get("dockerfile") == "deploy/Dockerfile":
            result[name] = service
    return result


def test_compose_runs_kim_run_for_each_service_and_kim_migrate_once():
    services = kim_services()
    commands = {name: service.get("command") for name, service in services.items()}
    assert commands.pop("migrate") == ["migrate"]
    assert services["migrate"]["restart"] == "no"
    for name, command in commands.items():
        assert command == ["run", name] and name in RUNNABLE, f"{name}: {command}"
    assert set(commands) == RUNNABLE
    for name in RUNNABLE:
        service = services[name]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert service["healthcheck"]["test"][:3] == ["CMD", "kim", "health"] and name in service["healthcheck"]["test"]
        assert service.get("read_only") is True
        assert str(service.get("user", "10001")).split(":")[0] not in ("0", "root")


def test_compose_infrastructure_and_healthchecks():
    services = compose()["services"]
    assert "management" in services["rabbitmq"]["image"]
    assert services["postgres"]["image"].startswith("postgres:")
    assert any(v.startswith("./postgres-init:/docker-entrypoint-initdb.d") for v in services["postgres"]["volumes"])
    for name in ("rabbitmq", "postgres", *RUNNABLE):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
    published = {name for name, s in services.items() if s.get("ports")}
    assert all(port.startswith("127.0.0.1:") for s in services.values() for port in s.get("ports", []))
    assert published <= {"gateway", "rabbitmq"}
    assert compose()["networks"]["backend"]["internal"] is True
    amqp = make_url(kim_services()["intake"]["environment"]["AMQP_URI"].replace("amqp://", "postgresql://", 1))
    assert amqp.host == "rabbitmq" and amqp.password.startswith("${")


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_compose_files_resolve_for_each_instance(instance):
    service = kim_services()["gateway"]
    for env_file in service["env_file"]:
        assert (DEPLOY / interpolate(env_file, instance)).is_file(), env_file
    for name, secret in compose()["secrets"].items():
        path = interpolate(secret["file"], instance)
        assert path.startswith("./secrets/"), f"secret {name} must live in the gitignored deploy/secrets/"
    ignored = (DEPLOY / ".gitignore").read_text().split()
    assert "/secrets/*" in ignored and "!/secrets/*.example" in ignored and "/.env" in ignored


# Kubernetes --------------------------------------------------------------------------------------------------

def test_kubernetes_deployments_run_kim_run_per_service():
    deployments = of_kind("Deployment")
    components = set()
    for deployment in deployments:
        component = deployment["metadata"]["labels"]["app.kubernetes.io/component"]
        (container,) = containers(deployment)
        assert container["command"] == ["kim"] and container["args"] == ["run", component], deployment["metadata"]
        assert component in RUNNABLE
        assert deployment["spec"]["selector"]["matchLabels"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        components.add(component)
    assert components == RUNNABLE
    (job,) = of_kind("Job")
    (container,) = containers(job)
    assert container["command"] == ["kim"] and container["args"] == ["migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


@pytest.mark.parametrize("doc", [d for d in base_resources() if d["kind"] in ("Deployment", "Job")],
                         ids=lambda d: d["metadata"]["name"])
def test_kubernetes_pods_are_locked_down(doc):
    pod = doc["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod.get("automountServiceAccountToken") is False
    for container in containers(doc):
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False
        assert security["capabilities"]["drop"] == ["ALL"]
        for kind in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{doc['metadata']['name']}: {kind}"
        refs = container["envFrom"]
        assert {"configMapRef": {"name": "kim-config"}} in refs and {"secretRef": {"name": "kim-secrets"}} in refs
        # a read-only root needs a writable /tmp
        mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts


def test_kubernetes_gateway_service_and_probes():
    (gateway,) = [d for d in of_kind("Deployment") if d["metadata"]["labels"]["app.kubernetes.io/component"] == "gateway"]
    (container,) = containers(gateway)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 8000}
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert ports[container["readinessProbe"]["httpGet"]["port"]] == 8000
    (service,) = of_kind("Service")
    assert service["spec"]["ports"][0]["port"] == 8000
    assert service["spec"]["selector"].items() <= gateway["spec"]["template"]["metadata"]["labels"].items()
    base_config = parse_env(K8S / "base" / "config.env")
    assert base_config["KIM_GATEWAY_ADDRESS"].rpartition(":")[2] == "8000"


def test_kubernetes_network_policy_lets_only_the_gateway_be_reached():
    policies = of_kind("NetworkPolicy")
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and p["spec"].get("ingress") == []]
    assert deny and "Ingress" in deny[0]["spec"]["policyTypes"], "no default-deny ingress policy"
    for policy in policies:
        if policy in deny:
            continue
        assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "gateway"
        for rule in policy["spec"].get("ingress", []):
            assert [p["port"] for p in rule["ports"]] == [8000]


def test_kubernetes_base_commits_no_secret():
    base = kustomization(K8S / "base")
    assert "secretGenerator" not in base
    assert not of_kind("Secret")
    assert "secret.yaml.example" not in base["resources"]
    referenced = {ref["secretRef"]["name"] for d in base_resources() for c in containers(d)
                  for ref in c.get("envFrom", []) if "secretRef" in ref}
    assert referenced == {"kim-secrets"}
    example_keys = {k for d in load_yaml(K8S / "base" / "secret.yaml.example") for k in d.get("stringData", {})}
    assert {"AMQP_URI", *(f"KIM_{s.upper()}_DB_URL" for s in MIGRATED)} <= example_keys


@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_overlay_references_the_base_and_existing_files(instance):
    folder = K8S / "overlays" / instance
    overlay = kustomization(folder)
    assert "../../base" in overlay["resources"]
    assert overlay["namespace"] == f"kim-{instance}"
    paths = list(overlay.get("resources", []))
    for gen in overlay.get("configMapGenerator", []) + overlay.get("secretGenerator", []):
        paths += gen.get("envs", []) + [f.split("=", 1)[-1] for f in gen.get("files", [])]
    paths += [p["path"] for p in overlay.get("patches", []) if "path" in p]
    for rel in paths:
        target = (folder / rel).resolve()
        assert target.exists(), f"{instance}: {rel} does not exist"
        assert K8S in target.parents or target == K8S, f"{instance}: {rel} is outside deploy/k8s"
    assert [i["name"] for i in overlay["images"]] == ["kim"]
    assert overlay["configMapGenerator"] == [{"name": "kim-config", "behavior": "merge", "envs": ["config.env"]}]
    assert "secretGenerator" not in overlay


# secrets -----------------------------------------------------------------------------------------------------

def test_the_secret_detector_finds_secrets():
    assert secret_findings("KIM_JWT_SECRET=abc") == ["a KIM_JWT_SECRET value", "a password, token or secret value"]
    assert secret_findings("-----BEGIN PRIVATE KEY-----")
    assert secret_findings("-----BEGIN RSA PRIVATE KEY-----")
    assert secret_findings("DB_PASSWORD=hunter2")
    assert secret_findings("AMQP_URI=amqp://kim:hunter2@rabbitmq:5672/kim")
    assert secret_findings('  KIM_JWT_SECRET: "s3cret"')
    for harmless in ("KIM_JWT_SECRET=", "KIM_JWT_SECRET: ${KIM_JWT_SECRET:-}", 'KIM_JWT_SECRET: ""',
                     "AMQP_URI: amqp://kim:${RABBITMQ_PASSWORD:?}@rabbitmq:5672/kim", "DB_PASSWORD=",
                     "postgresql+psycopg2://kim@postgres:5432/kim_intake", "-----BEGIN PUBLIC KEY-----",
                     "postgresql://kim:<password>@db/kim", "PGPASSWORD: ${DB_PASSWORD:?set DB_PASSWORD}"):
        assert not secret_findings(harmless), harmless


def committed_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file() and not is_local_secret(p)
                  and "__pycache__" not in p.parts)


@pytest.mark.parametrize("path", committed_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_no_file_under_deploy_holds_a_secret(path):
    findings = secret_findings(path.read_text(encoding="utf-8"))
    assert not findings, f"{path.relative_to(ROOT)} seems to hold {findings}"


# documentation of contracts ----------------------------------------------------------------------------------

def test_event_catalogue_doc_covers_every_event_and_field():
    text = (ROOT / "docs/events.md").read_text(encoding="utf-8")
    for (producer, event_type, version), schema in CATALOGUE.items():
        assert re.search(rf"`{event_type}`.*v{version}|{event_type}.*schema_version {version}", text), event_type
        assert f"{producer}.events" in text
        for field in schema._declared_fields:
            assert f"`{field}`" in text, f"{event_type}: {field} undocumented"


def test_glossary_lists_residence_statuses_and_roles():
    text = (ROOT / "docs/glossary.md").read_text(encoding="utf-8")
    for code in RESIDENCE_STATUSES:
        assert f"`{code}`" in text, code
    for role in Role:
        assert f"`{role.value}`" in text, role.value


@pytest.mark.skipif(not shutil.which("kubectl"), reason="kubectl (with its built-in kustomize) is not installed")
@pytest.mark.parametrize("instance", sorted(INSTANCES))
def test_overlay_builds_with_kustomize(instance):
    rendered = subprocess.run(["kubectl", "kustomize", str(K8S / "overlays" / instance)], capture_output=True,
                              text=True, timeout=60)
    assert rendered.returncode == 0, rendered.stderr
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    (config,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert set(config["data"]["KIM_MUNICIPALITIES"].split(",")) == INSTANCES[instance]
    assert config["data"]["KIM_GATEWAY_ADDRESS"] == "0.0.0.0:8000"
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == f"kim-{instance}", doc["metadata"]["name"]
        for container in containers(doc):
            assert container["image"].startswith("registry.example.org/kim/kim:")
            assert {"configMapRef": {"name": config["metadata"]["name"]}} in container["envFrom"]
