"""Supply chain: whatever the project installs is an exact version, every file checked against its hash.

The repository is read for install commands: the Makefile and .ci/ (shell lines), the code in the docs, and
every Python file's argv lists and strings. pip and uv install only from requirements/*.txt, with
--require-hashes and wheels only (building a source distribution would fetch its build backend unpinned);
the project's own editable install fetches nothing (--offline); apt-get installs only Debian's chromium,
from Debian's signed repository; nothing else installs anything (npm, npx, pipx, `playwright install`,
`curl | sh`). `make lock` writes every requirements/*.txt, each package pinned with its hashes, and no file
pins a refused release. docs/operations.md, "Supply chain", says what is pinned where.

No network: the files are read, nothing is run. This file is left out of the scan (its examples are bad on
purpose).
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import os
import re
import shlex
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements"

# Releases never to be installed, and why.
REFUSED = {
    # A credential stealer, published on 24 March 2026 from the maintainers' compromised PyPI account and
    # since removed (OSV MAL-2026-2144); 1.82.8 ran it at every interpreter start (litellm_init.pth).
    "litellm": {"1.82.7": "malicious", "1.82.8": "malicious"},
}
# What apt-get may install: Debian's own packages, from its signed repository.
APT_ALLOWED = {"chromium"}

_SKIP_DIRS = {".git", ".uv", "var", "node_modules", "__pycache__", "target", "logs", "dbt_packages"}
_SHELL_FILES = {"Makefile", "Dockerfile"}
_SHELL_SUFFIXES = {".sh", ".bash", ".yml", ".yaml", ".toml", ".cfg", ".ini"}
_SEPARATORS = {"&&", "||", ";", "|", "&", "(", ")"}
# pip's and uv's options that take a value (one not known here makes its value look like a package
# named on the command line: the test then fails, the safe side).
_VALUED = {
    "-r", "--requirement", "-c", "--constraint", "-e", "--editable", "--python", "-p", "--target", "-t",
    "--prefix", "--root", "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--only-binary",
    "--no-binary", "--root-user-action", "--python-version", "--platform", "--cache-dir", "--progress-bar",
    "--report", "--log", "--timeout", "--retries", "--cert", "--proxy", "--exists-action", "--trusted-host",
    "--override", "--build-constraint", "--index-strategy", "--link-mode", "--exclude-newer",
}  # fmt: skip
# A line without any of these words installs nothing (and is not tokenised: a quick scan).
_INSTALLERS = re.compile(
    r"\b(pip[\d.]*|pipx|uvx?|apt(-get)?|aptitude|npm|npx|pnpm|pnpx|yarn|bunx?|easy_install|playwright|curl|wget|pinned_venv)\b"
)
_PIP = re.compile(r"^pip(\d+(\.\d+)?)?$")
_PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(?P<version>[^\s;\\]+)(\s*;.*)?$")
_HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}$")


_UNKNOWN = "<expression>"  # an argument whose value is known only when the code runs
_PINNED_VENV_PIP = ("--require-hashes", "--only-binary", ":all:", "--no-deps")


@dataclass(frozen=True)
class Command:
    where: str  # path:line
    tokens: tuple[str, ...]


# --- finding commands ------------------------------------------------------------------------------------


def _files(root: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and not d.startswith((".venv", ".cache")))
        for name in sorted(files):
            yield Path(folder) / name


def _tokens(line: str) -> list[str]:
    if not _INSTALLERS.search(line):
        return []
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # an unbalanced quote (prose, an apostrophe): words will do
        return re.findall(r"[^\s;|&()]+|[;|&()]+", line)


def _shell_lines(text: str, make_vars: dict[str, str]) -> Iterator[tuple[int, str]]:
    """Logical lines (backslash continuations joined), with Make's $(VAR) and ${VAR} replaced."""
    start, pending = 0, ""
    for number, line in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        joined, pending = pending + line, ""
        for _ in range(5):
            joined = re.sub(r"\$[({](\w+)[)}]", lambda m: make_vars.get(m.group(1), m.group(0)), joined)
        yield start, joined


def _make_vars(text: str) -> dict[str, str]:
    found = re.findall(r"^(\w+)\s*[:?]?=\s*(.*?)\s*$", text, re.MULTILINE)
    return {name: value for name, value in found if not value.startswith("$(shell")}


def _markdown_code(text: str) -> str:
    """The doc's code (fenced blocks and `inline` spans), line for line, prose blanked."""
    lines, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced, line = not fenced, ""
        lines.append(line if fenced else "  ;  ".join(re.findall(r"`([^`\n]+)`", line)))
    return "\n".join(lines)


def _python_commands(path: str, text: str) -> Iterator[Command]:
    """Each list or tuple as an argv (an expression as the strings it is made of, names followed to their
    assignment: ROOT / "requirements" / "x.txt" reads requirements/x.txt), and each string as a shell line."""
    tree = ast.parse(text)
    names = {
        node.targets[0].id: node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name)
    }

    def strings(node: ast.AST, depth: int = 0) -> list[str]:
        if isinstance(node, ast.Constant):
            return [node.value] if isinstance(node.value, str) else []
        if isinstance(node, ast.Name):
            return strings(names[node.id], depth + 1) if node.id in names and depth < 8 else []
        return [s for child in ast.iter_child_nodes(node) for s in strings(child, depth)]

    for node in ast.walk(tree):
        if isinstance(node, ast.List | ast.Tuple):
            argv = []
            for element in node.elts:
                if isinstance(element, ast.List | ast.Tuple | ast.Starred):
                    argv.append(";")  # another argv, not an argument of this one
                else:
                    argv.append("/".join(strings(element)) or _UNKNOWN)
            yield Command(f"{path}:{node.lineno}", tuple(argv))
        elif isinstance(node, ast.Call) and _called(node.func) == "pinned_venv" and len(node.args) == 2:
            # bench/venvs.py installs its second argument as below: the caller must name a hashed file.
            requirements = "/".join(strings(node.args[1])) or _UNKNOWN
            yield Command(f"{path}:{node.lineno}", ("pip", "install", *_PINNED_VENV_PIP, "-r", requirements))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            for offset, line in enumerate(node.value.splitlines()):
                yield Command(f"{path}:{node.lineno + offset}", tuple(_tokens(line)))


def _called(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def commands(path: str, text: str) -> Iterator[Command]:
    """The commands a file holds, as token lists (still joined by ;, && and |)."""
    name = Path(path).name
    if not _INSTALLERS.search(text):
        return
    if name.endswith(".py"):
        yield from _python_commands(path, text)
        return
    if name.endswith((".md", ".rst")):
        text, make_vars = _markdown_code(text), {}
    elif name in _SHELL_FILES or Path(name).suffix in _SHELL_SUFFIXES or path.startswith(".ci/"):
        make_vars = _make_vars(text) if name == "Makefile" else {}
    else:
        return
    for number, line in _shell_lines(text, make_vars):
        tokens = _tokens(line)
        if tokens:
            yield Command(f"{path}:{number}", tuple(tokens))


@functools.cache
def repository_commands() -> tuple[Command, ...]:
    return tuple(_repository_commands(ROOT))


def _repository_commands(root: Path) -> Iterator[Command]:
    for file in _files(root):
        relative = file.relative_to(root).as_posix()
        if file == Path(__file__).resolve() or relative.startswith("requirements/"):
            continue
        try:
            text = file.read_text()
        except (UnicodeDecodeError, OSError):
            continue
        yield from commands(relative, text)


# --- judging them ------------------------------------------------------------------------------------------


def _split(tokens: tuple[str, ...]) -> Iterator[list[str]]:
    """Simple commands: split at ;, &&, | and parentheses; a redirection (2>&1, >/dev/null) ends one."""
    part: list[str] = []
    redirected = False
    for token in tokens:
        if token in _SEPARATORS:
            redirected = False
        elif re.fullmatch(r"[<>]+&?", token):
            redirected = True
            if part and part[-1].isdigit():
                part.pop()  # the 2 of 2>&1
            continue
        elif not redirected:
            part.append(token)
            continue
        if part:
            yield part
        part = []
    if part:
        yield part


def _base(token: str) -> str:
    return token.rstrip("/").rsplit("/", 1)[-1]


def _options(args: list[str]) -> tuple[dict[str, list[str]], list[str]]:
    """pip/uv arguments: each option with its values, and the positional arguments."""
    options: dict[str, list[str]] = {}
    positional: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("-"):
            name, equals, value = arg.partition("=")
            if equals:
                options.setdefault(name, []).append(value)
            elif name in _VALUED and index + 1 < len(args):
                options.setdefault(name, []).append(args[index + 1])
                index += 1
            else:
                options.setdefault(name, [])
        else:
            positional.append(arg)
        index += 1
    return options, positional


def _requirements_file(value: str) -> Path | None:
    """The hashed requirements file an argument names (requirements/x.txt, however it is spelled), or None."""
    match = re.search(r"(?:^|/)requirements/([\w.-]+\.txt)$", value)
    return REQUIREMENTS / match.group(1) if match and (REQUIREMENTS / match.group(1)).is_file() else None


def _pip_problems(verb: str, args: list[str]) -> list[str]:
    options, positional = _options(args)
    editable = options.get("-e", []) + options.get("--editable", [])
    if editable:
        needed = {"--no-deps", "--no-build-isolation"}
        fetches = not ({"--offline", "--no-index"} & options.keys())
        if editable != ["."] or positional or not needed <= options.keys() or fetches:
            return [
                "an editable install must be the project itself (-e .), fetching nothing: "
                "--no-deps --no-build-isolation --offline"
            ]
        return []
    problems = []
    if "--require-hashes" not in options:
        problems.append("no --require-hashes")
    if not ("--no-build" in options or ":all:" in options.get("--only-binary", [])):
        problems.append("not wheels only (--only-binary :all: for pip, --no-build for uv)")
    files = options.get("-r", []) + options.get("--requirement", []) + options.get("-c", [])
    files += positional if verb == "sync" else []
    for value in files:
        # A file known only when it runs (bench/venvs.py's argument) is still read with --require-hashes, so
        # pip refuses any line of it without one exact version and its hashes; its callers are checked.
        if value == _UNKNOWN and "--require-hashes" in options:
            continue
        if _requirements_file(value) is None:
            problems.append(f"{value!r} is not a hashed requirements/*.txt")
    if verb == "install" and positional:
        problems.append(f"installs {' '.join(positional)} by name, not from a hashed requirements/*.txt")
    if not files and not positional:
        problems.append("installs from no requirements file")
    return problems


def _other_installer(base: str, following: list[str], part: list[str], first: bool) -> bool:
    """npm and the like, npx, pipx, `playwright install` (a browser of its own), `uv tool`: no hashed lock."""
    verb = following[0] if following else ""
    return (
        (base in {"npm", "yarn", "pnpm", "bun"} and verb in {"install", "i", "ci", "add"})
        or (base in {"npx", "pnpx", "bunx", "uvx", "pipx", "easy_install"} and first)
        or (base == "playwright" and verb.startswith("install"))
        or (base == "uv" and (verb in {"tool", "add"} or (verb == "run" and "--with" in part)))
    )


def problems_of(command: Command) -> Iterator[str]:
    """What is wrong with each install in a command (nothing when it installs nothing)."""
    words = command.tokens
    joined = " ".join(words)
    if re.search(r"\b(curl|wget)\b.*\|\s*(sudo\s+)?(ba|z)?sh\b", joined):
        yield f"{command.where}: pipes a download into a shell: {joined}"
    for part in _split(words):
        for index, token in enumerate(part):
            base, following = _base(token), part[index + 1 : index + 2]
            if _PIP.match(base) and following in (["install"], ["sync"]):
                problems = _pip_problems(following[0], part[index + 2 :])
            elif base in {"apt-get", "apt", "aptitude"} and following == ["install"]:
                packages = [arg for arg in part[index + 2 :] if not arg.startswith("-")]
                unsafe = [arg for arg in part if arg.startswith("--allow-")]
                problems = [f"apt installs {packages}, allowed: {sorted(APT_ALLOWED)}"] * bool(
                    set(packages) - APT_ALLOWED
                ) + [f"apt with {unsafe}"] * bool(unsafe)
            elif _other_installer(base, following, part, first=index == 0):
                problems = [f"{base} {' '.join(following)} installs what no hashed lock pins"]
            else:
                continue
            for problem in problems:
                yield f"{command.where}: {problem}: {' '.join(part)}"


def _installs(command: Command) -> bool:
    return any(
        _PIP.match(_base(token)) and part[index + 1 : index + 2] in (["install"], ["sync"])
        for part in _split(command.tokens)
        for index, token in enumerate(part)
    )


# --- the requirements files -------------------------------------------------------------------------------


def _requirement_lines(text: str) -> Iterator[str]:
    logical = ""
    for line in text.splitlines():
        line = re.sub(r"(^|\s)#.*", "", line).rstrip()  # a comment, not the # of a URL
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical, done = "", logical + line
        if done.strip():
            yield " ".join(done.split())


def requirement_problems(name: str, text: str) -> Iterator[str]:
    for line in _requirement_lines(text):
        spec, *hashes = line.split(" --hash=")
        pin = _PIN.match(spec)
        if not pin:
            yield f"{name}: {spec!r} is not one exact version (name==version)"
            continue
        if not hashes or not all(_HASH.match("--hash=" + h) for h in hashes):
            yield f"{name}: {spec} has no sha256 hash for its files"
        refused = REFUSED.get(pin["name"].lower().replace("_", "-"), {}).get(pin["version"])
        if refused:
            yield f"{name}: {spec} is a refused release ({refused})"


# --- the tests ----------------------------------------------------------------------------------------------


def test_every_install_in_the_repository_is_hash_pinned():
    found = [problem for command in repository_commands() for problem in problems_of(command)]
    assert not found, "installs not pinned by hash:\n" + "\n".join(found)


def test_the_scan_sees_the_installs_the_repository_makes():
    """A scan that read nothing would pass: it must find the installs known to be there."""
    where = {command.where.split(":")[0] for command in repository_commands() if _installs(command)}
    assert {"Makefile", "bench/venvs.py", "bench/gateway.py", "tests/warehouse/test_serving.py"} <= where
    apt = [c for c in repository_commands() if c.where.startswith(".ci/run") and "apt-get" in c.tokens]
    assert apt, "the scan does not see .ci/run's apt-get"


def test_every_requirements_file_pins_each_package_with_its_hashes():
    files = sorted(REQUIREMENTS.glob("*.txt"))
    assert {p.name for p in files} >= {"lock.txt", "uv.txt", "duckdb14.txt", "litellm.txt"}
    found = [problem for path in files for problem in requirement_problems(path.name, path.read_text())]
    assert not found, "\n".join(found)


def test_make_lock_writes_every_requirements_file_from_an_exact_pin():
    """Each .in pins exact versions and is compiled with hashes by `make lock`; no .txt is written by hand."""
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("\nlock:", 1)[1].split("\n\n", 1)[0]
    compiles = [line for _, line in _shell_lines(recipe, _make_vars(makefile)) if "pip compile" in line]
    assert compiles and all("--generate-hashes" in line for line in compiles)
    outputs = {Path(m).name for line in compiles for m in re.findall(r"-o\s+(\S+)", line)}
    assert outputs == {p.name for p in REQUIREMENTS.glob("*.txt")}
    for source in REQUIREMENTS.glob("*.in"):
        assert any(f"requirements/{source.name}" in line for line in compiles), f"make lock omits {source}"
        for line in _requirement_lines(source.read_text()):
            assert _PIN.match(line), f"{source.name}: {line!r} is not one exact version"
    # The project's own dependencies: pyproject.toml and constraints.txt pin exact versions too.
    constraints = list(_requirement_lines((ROOT / "constraints.txt").read_text()))
    assert constraints and all(_PIN.match(line) for line in constraints)


def test_the_build_backend_and_the_installer_are_locked():
    """The project is built without build isolation by the locked setuptools; uv comes from uv.txt."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        build = tomllib.load(file)["build-system"]["requires"]
    locked = {
        m["name"].lower(): m["version"]
        for line in _requirement_lines((REQUIREMENTS / "lock.txt").read_text())
        if (m := _PIN.match(line.split(" --hash=")[0]))
    }
    for requirement in map(Requirement, build):
        assert requirement.name.lower() in locked, f"the build backend {requirement.name} is not in the lock"
        assert requirement.specifier.contains(locked[requirement.name.lower()])
    assert re.search(r"^uv==", (REQUIREMENTS / "uv.txt").read_text(), re.MULTILINE)


def test_the_test_environment_holds_exactly_what_the_lock_pins():
    """The tests run on what `make install` syncs from requirements/lock.txt and nothing else: a package
    installed by hand (say `pip install matplotlib`, which a page may quietly need) fails here, in CI."""
    locked = {
        canonicalize_name(m["name"]): m["version"]
        for line in _requirement_lines((REQUIREMENTS / "lock.txt").read_text())
        if (m := _PIN.match(line.split(" --hash=")[0]))
    }
    with (ROOT / "pyproject.toml").open("rb") as file:
        project = canonicalize_name(tomllib.load(file)["project"]["name"])
    installed = {
        canonicalize_name(d.metadata["Name"]): d.version
        for d in importlib.metadata.distributions()
        if canonicalize_name(d.metadata["Name"]) != project
    }
    assert sorted(set(installed) - set(locked)) == [], "installed but not in requirements/lock.txt"
    assert sorted(set(locked) - set(installed)) == [], "in requirements/lock.txt but not installed"
    assert {name: v for name, v in installed.items() if v != locked[name]} == {}, "not the locked version"


def test_no_file_pins_a_refused_release():
    pins = [
        (path.name, line)
        for path in [*REQUIREMENTS.iterdir(), ROOT / "constraints.txt"]
        for line in _requirement_lines(path.read_text())
    ]
    with (ROOT / "pyproject.toml").open("rb") as file:
        project = tomllib.load(file)["project"]
    pins += [("pyproject.toml", d) for d in project["dependencies"]]
    pins += [("pyproject.toml", d) for extra in project["optional-dependencies"].values() for d in extra]
    for name, line in pins:
        requirement = Requirement(line.split(" --hash=")[0])
        for version, why in REFUSED.get(requirement.name.lower(), {}).items():
            assert requirement.specifier and not requirement.specifier.contains(version), (
                f"{name}: {line} allows {requirement.name} {version} ({why})"
            )


# --- the scan bites: installs it must refuse, and the forms it must accept ----------------------------------

_BAD = [
    pytest.param(
        "bench/x.py",
        'VENV = ROOT / "bench" / ".venv-litellm"\n'
        'VERSION = os.environ.get("AIADMIN_BENCH_LITELLM", "litellm[proxy]")\n'
        'subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", VERSION], check=False)\n',
        id="gateway before the pins",
    ),
    pytest.param("docs/x.md", "```sh\npip install litellm\n```\n", id="by name"),
    pytest.param("docs/x.md", "Run `python -m pip install 'litellm==1.81.16'` first.\n", id="inline"),
    pytest.param(
        "Makefile", "x:\n\tpip install --only-binary :all: -r requirements/uv.txt\n", id="no --require-hashes"
    ),
    pytest.param(
        "Makefile", "x:\n\tpip install --require-hashes -r requirements/uv.txt\n", id="sdists built"
    ),
    pytest.param(
        "Makefile",
        "UV := .uv/bin/uv\nx:\n\t$(UV) pip install --python .venv/bin/python \\\n\t\truff\n",
        id="uv by name",
    ),
    pytest.param(
        "Makefile", "x:\n\tuv pip sync --require-hashes --no-build constraints.txt\n", id="unhashed file"
    ),
    pytest.param("Makefile", "x:\n\tuv pip install --no-deps -e .\n", id="editable, fetching"),
    pytest.param(
        "Makefile",
        "x:\n\tuv pip install --offline --no-deps --no-build-isolation -e ../other\n",
        id="editable, another tree",
    ),
    pytest.param(".ci/run", "python -m playwright install chromium\n", id="a downloaded browser"),
    pytest.param(".ci/run", "npx playwright install --with-deps\n", id="npx"),
    pytest.param("Dockerfile", "RUN npm install -g something\n", id="npm"),
    pytest.param("x.sh", "pipx install litellm\n", id="pipx"),
    pytest.param("x.sh", "uv tool install litellm\n", id="uv tool"),
    pytest.param("x.sh", "curl -LsSf https://example.invalid/install.sh | sh\n", id="curl into a shell"),
    pytest.param(".ci/run", "$SUDO apt-get install -y -qq nodejs\n", id="apt, not chromium"),
    pytest.param(".ci/run", "apt-get install -y --allow-unauthenticated chromium\n", id="apt, unsigned"),
    pytest.param(
        "t.py",
        'subprocess.run([sys.executable, "-m", "pip", "install", "duckdb==1.4.5"])\n',
        id="argv by name",
    ),
    pytest.param(
        "t.py",
        'REQ = ROOT / "requirements" / "duckdb14.txt"\n'
        'subprocess.run([python, "-m", "pip", "install", "--only-binary", ":all:", "-r", str(REQ)])\n',
        id="argv without hashes",
    ),
    pytest.param("t.py", 'os.system("pip install --quiet litellm")\n', id="a shell string in Python"),
    pytest.param("t.py", 'pinned_venv(VENV, ROOT / "constraints.txt")\n', id="pinned_venv, unhashed file"),
]

_GOOD = [
    pytest.param(
        "Makefile",
        "PYTHON ?= python3\nx:\n\t$(PYTHON) -m pip install --quiet --root-user-action=ignore --require-hashes"
        " \\\n\t\t--only-binary :all: --no-deps --upgrade --target .uv -r requirements/uv.txt\n",
        id="the bootstrap of uv",
    ),
    pytest.param(
        "Makefile",
        "LOCK := requirements/lock.txt\nx:\n\tuv pip sync --require-hashes --no-build $(LOCK)\n",
        id="the lock",
    ),
    pytest.param(
        "Makefile", "x:\n\tuv pip install --offline --no-deps --no-build-isolation -e .\n", id="the project"
    ),
    pytest.param(
        ".ci/run",
        "  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null\n",
        id="Debian's chromium",
    ),
    pytest.param(
        "t.py",
        'REQ = Path(__file__).parent / "requirements" / "litellm.txt"\n'
        'steps = ([PY, "-m", "venv", str(V)], [python, "-m", "pip", "install", "--require-hashes",'
        ' "--only-binary", ":all:", "--no-deps", "-r", str(REQ)])\n',
        id="argv from a hashed file",
    ),
    pytest.param(
        "t.py",
        'REQ = ROOT / "requirements" / "duckdb14.txt"\n'
        "try:\n    venvs.pinned_venv(venv, REQ)\nexcept E:\n    pass\n",
        id="pinned_venv, hashed file",
    ),
    pytest.param(
        "t.py", '"""pip keeps a package already installed without checking its hash."""\n', id="prose"
    ),
    pytest.param("README.md", "```sh\ncurl -s localhost:8000/health | jq .\n```\n", id="curl, an API call"),
]


@pytest.mark.parametrize("path, text", _BAD)
def test_the_scan_refuses(path, text):
    assert [problem for command in commands(path, text) for problem in problems_of(command)]


@pytest.mark.parametrize("path, text", _GOOD)
def test_the_scan_accepts(path, text):
    assert not [problem for command in commands(path, text) for problem in problems_of(command)]


@pytest.mark.parametrize(
    "text",
    [
        "litellm==1.82.8 \\\n    --hash=sha256:" + "a" * 64 + "\n",  # refused, hashed or not
        "litellm==1.81.16\n",  # no hash
        "litellm>=1.81 \\\n    --hash=sha256:" + "a" * 64 + "\n",  # not one version
        "-e git+https://example.invalid/x.git#egg=x\n",
        "--index-url https://example.invalid/simple\nuv==0.13.8 \\\n    --hash=sha256:" + "b" * 64 + "\n",
    ],
)
def test_a_requirements_file_is_refused_when(text):
    assert list(requirement_problems("x.txt", text))
