"""The documentation against the code: every setting, variable, project key, file, command and option that warp
defines is in docs/configuration.md, everything the docs name exists, and every relative link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from warp import deploy
from warp.config import project, settings
from warp.cli import cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
#: The pages a person writes (benchmarks.md and soak.md are generated, and only linked to).
WRITTEN = [ROOT / "README.md", *sorted(path for path in DOCS.glob("*.md") if path.name not in ("benchmarks.md", "soak.md"))]

VARIABLE = re.compile(r"\bWARP_[A-Z0-9_]*[A-Z0-9]\b")


def name_of(path: Path) -> str:
    return str(path.relative_to(ROOT))


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def find_section(text: str, heading: str) -> str:
    """The text under a Markdown heading, up to the next heading of the same or a higher level."""
    match = re.search(rf"^(#+) {re.escape(heading)}\n", text, re.M)
    assert match, f"heading {heading!r} is missing"
    level = len(match.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.M).search(text, match.end())
    return text[match.end(): end.start() if end else len(text)]


def find_table(section: str) -> list[list[str]]:
    """The rows of the first Markdown table in ``section`` (header and rule left out), cells stripped."""
    rows = [line for line in section.splitlines() if line.startswith("|")]
    cells = [[cell.strip() for cell in re.split(r"(?<!\\)\|", row)[1:-1]] for row in rows]
    return [row for row in cells[2:]]


def find_code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def find_code_variables() -> set[str]:
    """Every WARP_* variable warp reads or sets: the quoted names in warp/ and hooks/."""
    names = set()
    for path in [*ROOT.joinpath("warp").rglob("*.py"), *ROOT.joinpath("hooks").rglob("*.py")]:
        names.update(re.findall(r"""["'](WARP_[A-Z0-9_]*[A-Z0-9])["']""", read(path)))
    return names


def find_tool_keys() -> set[str]:
    """Every [tool.warp] key warp reads: the settings' keys and those read from ``ProjectFacts.tool`` directly."""
    keys = {spec.tool_key for spec in settings.SPECS if spec.tool_key}
    for path in ROOT.joinpath("warp").rglob("*.py"):
        keys.update(re.findall(r"""\.tool\.get\(\s*["']([\w-]+)["']""", read(path)))  # project.tool: the [tool.warp] table
        keys.update(re.findall(r"""\btool(?:\.get\(\s*|\[)["']([\w-]+)["']""", read(path)))  # a function given that table as ``tool``
    return keys - {"warp"}  # pyproject's tool.warp: the table itself


# ---------------------------------------------------------------- settings


SETTINGS_ROWS = find_table(find_section(read(CONFIGURATION), "Settings"))


def find_row(spec: settings.Spec) -> list[str]:
    """The Settings table's row for ``spec``: the one whose flag, else whose first variable, is the spec's."""
    for row in SETTINGS_ROWS:
        spans = find_code_spans(row[1]) + find_code_spans(row[2])
        if (spec.flag and spec.flag in find_code_spans(row[1])) or (not spec.flag and spec.env[0] in spans):
            return row
    raise AssertionError(f"setting {spec.name!r} ({spec.flag or spec.env[0]}) has no row in the Settings table of {CONFIGURATION.name}")


@pytest.mark.parametrize("spec", settings.SPECS, ids=lambda spec: spec.name)
def test_every_setting_has_a_row_with_its_flag_variables_file_and_key(spec):
    _, flag, variables, files, key, _ = find_row(spec)
    assert find_code_spans(flag)[:1] == ([spec.flag] if spec.flag else []), f"{spec.name}: flag column {flag!r}"
    assert find_code_spans(variables) == list(spec.env), f"{spec.name}: variables column {variables!r} (in precedence order)"
    assert find_code_spans(files) == [f".warp/{name}" for name in spec.files], f"{spec.name}: .warp/ file column {files!r}"
    assert find_code_spans(key) == ([spec.tool_key] if spec.tool_key else []), f"{spec.name}: [tool.warp] column {key!r}"


def test_every_row_of_the_settings_table_is_a_setting():
    rows = [find_row(spec) for spec in settings.SPECS]
    extra = [row[0] for row in SETTINGS_ROWS if row not in rows]
    assert not extra, f"rows of the Settings table that settings.py does not define: {extra}"


def test_the_choices_of_the_settings_are_documented():
    text = read(CONFIGURATION)
    spans = set(find_code_spans(text))
    for choice in (*settings.SERVER_TYPES, *settings.MODES, *settings.INTERFACES, *settings.INSTALLERS):
        assert choice in spans, f"`{choice}` is not in {CONFIGURATION.name}"


# ---------------------------------------------------------------- variables, [tool.warp] keys, .warp/ files


def test_every_variable_warp_reads_or_sets_is_documented():
    documented = set(VARIABLE.findall(read(CONFIGURATION)))
    missing = sorted(find_code_variables() - documented)
    assert not missing, f"WARP_* variables in warp/ or hooks/ that {CONFIGURATION.name} does not name: {missing}"
    for name in ("PORT", "WEB_CONCURRENCY", "MOD_WSGI_RELOAD_ON_CHANGES"):
        assert f"`{name}`" in read(CONFIGURATION)


@pytest.mark.parametrize("page", WRITTEN, ids=lambda path: name_of(path))
def test_every_variable_the_docs_name_exists(page):
    known = find_code_variables()
    unknown = sorted(set(VARIABLE.findall(read(page))) - known)
    assert not unknown, f"{page.name} names WARP_* variables that warp neither reads nor sets: {unknown}"


def test_every_tool_warp_key_is_documented():
    section = find_section(read(CONFIGURATION), "`[tool.warp]` in pyproject.toml")
    keys = find_tool_keys()
    table_keys = {span for row in SETTINGS_ROWS for span in find_code_spans(row[4])}
    listed = set(re.findall(r"^- `([\w-]+)`:", section, re.M))
    assert keys == table_keys | listed, f"[tool.warp] keys warp reads {sorted(keys)}; documented {sorted(table_keys | listed)}"


@pytest.mark.parametrize("page", WRITTEN, ids=lambda path: name_of(path))
def test_every_tool_warp_key_the_docs_name_exists(page):
    text = read(page)
    named = {key for span in find_code_spans(text) for key in re.findall(r"^\[tool\.warp\] ([a-z][\w-]*)", span)}
    for block in re.findall(r"```toml\n(.*?)```", text, re.S):
        table = block.split("[tool.warp]", 1)[-1] if "[tool.warp]" in block else ""
        named.update(re.findall(r"^([a-z][\w-]*)\s*=", table, re.M))
    unknown = sorted(named - find_tool_keys())
    assert not unknown, f"{page.name} names [tool.warp] keys that warp does not read: {unknown}"


def test_every_file_under_dot_warp_is_documented():
    text = read(CONFIGURATION)
    for name in (*project.WARP_FILES, "environment", "server_args", "wheelhouse", "action_hooks"):
        assert f"`.warp/{name}" in text, f".warp/{name} is not in {CONFIGURATION.name}"
    hooks = find_table(find_section(text, "Action hooks and the lifecycle commands"))
    documented = {span for row in hooks for span in find_code_spans(row[0])}
    assert documented == set(project.HOOK_NAMES), f"action hooks documented {sorted(documented)}, warp runs {sorted(project.HOOK_NAMES)}"


# ---------------------------------------------------------------- commands and options


COMMANDS_SECTION = find_section(read(CONFIGURATION), "Commands")


def find_command_doc(name: str) -> str:
    """The Commands table's rows for ``warp NAME``, with the START OPTIONS paragraph when a row refers to it."""
    rows = [row for row in find_table(COMMANDS_SECTION) if re.search(rf"`warp {re.escape(name)}(?![\w-])", row[0])]
    assert rows, f"`warp {name}` has no row in the Commands table of {CONFIGURATION.name}"
    text = " ".join(" ".join(row) for row in rows)
    if "START OPTIONS" in text:
        text += re.search(r"^START OPTIONS are .*?(?:\n\n|\Z)", COMMANDS_SECTION, re.M | re.S).group(0)
    return text


def has_option(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_and_its_options_are_documented(name):
    text = find_command_doc(name)
    command = cli.commands[name]
    for param in command.params:
        if isinstance(param, click.Option):
            for option in param.opts + param.secondary_opts:
                assert has_option(text, option), f"warp {name} {option} is not documented with `warp {name}` in {CONFIGURATION.name}"


def test_the_group_options_and_the_export_targets_are_documented():
    text = read(CONFIGURATION)
    for option in ("--version", "--help", "-h", *(opt for param in cli.params for opt in param.opts)):
        assert has_option(text, option), f"warp {option} is not in {CONFIGURATION.name}"
    row = find_command_doc("export")
    for target in deploy.TARGETS:
        assert target in row, f"export target {target} is not in the `warp export` row"


def test_every_command_the_docs_name_exists():
    named = set()
    for page in WRITTEN:
        named.update(re.findall(r"`warp ([a-z][\w-]*)", read(page)))
    unknown = sorted(named - set(cli.commands))
    assert not unknown, f"the docs name commands warp does not have: {unknown}"


# ---------------------------------------------------------------- links


def make_slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def find_anchors(path: Path) -> set[str]:
    anchors: set[str] = set()
    for heading in re.findall(r"^#+ (.+)$", strip_code(read(path)), re.M):
        slug = make_slug(heading)
        count = 0
        while (slug if not count else f"{slug}-{count}") in anchors:
            count += 1
        anchors.add(slug if not count else f"{slug}-{count}")
    return anchors


def strip_code(text: str) -> str:
    """Markdown without fenced blocks, indented blocks and code spans (links there are not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)
    text = re.sub(r"^(?: {4}|\t).*$", "", text, flags=re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def find_links(path: Path) -> list[str]:
    return re.findall(r"\[[^\]]*\]\(([^)\s]+)\)", strip_code(read(path)))


@pytest.mark.parametrize("page", WRITTEN, ids=lambda path: name_of(path))
def test_every_relative_link_resolves(page):
    broken = []
    for link in find_links(page):
        if re.match(r"[a-z]+:", link):
            continue
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(link)
        elif anchor and path.suffix == ".md" and anchor not in find_anchors(path):
            broken.append(link)
    assert not broken, f"{page.name}: links that lead nowhere: {broken}"


def test_the_readme_links_every_page_and_the_index_lists_them():
    readme = set(find_links(ROOT / "README.md"))
    index = {link.partition("#")[0] for link in find_links(DOCS / "README.md")}
    for page in sorted(DOCS.glob("*.md")):
        if page.name != "README.md":
            assert page.name in index, f"docs/README.md does not list {page.name}"
    for page in WRITTEN[1:]:
        if page.name != "README.md":
            assert f"docs/{page.name}" in readme, f"README.md does not link docs/{page.name}"
    assert "docs/README.md" in readme


def test_the_readme_stays_short():
    assert len(read(ROOT / "README.md").splitlines()) <= 250


def find_layout() -> dict[str, str]:
    """The Layout section of how-warp-works.md: each entry's path (``warp/run/``, ``warp/run/start.py``) -> its text,
    the lines under it included."""
    block = find_section(read(DOCS / "how-warp-works.md"), "Layout")
    entries: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        match = re.match(r"^( {4,})([\w.]+\.py|\w+/)(?: {2,}|$)", line)
        if match:
            indent = len(match.group(1))
            while stack and stack[-1][0] >= indent:
                stack.pop()
            path = "".join(name for _, name in stack) + match.group(2)
            stack.append((indent, match.group(2)))
            entries[path] = ""
        for depth in range(len(stack)):
            entries["".join(name for _, name in stack[: depth + 1])] += line + "\n"
    return entries


def test_the_layout_names_every_package_and_module():
    """A newcomer reads where each part lives in docs/how-warp-works.md: every module is there, under its package."""
    layout = find_layout()
    for top in ("warp", "hooks"):
        for path in sorted((ROOT / top).rglob("*.py")):
            if path.name == "__init__.py" or "__pycache__" in path.parts:
                continue
            package = "".join(f"{part}/" for part in path.relative_to(ROOT).parts[:-1])
            assert package in layout, f"docs/how-warp-works.md's Layout has no entry {package}"
            assert re.search(rf"\b{re.escape(path.name)}\b", layout[package]), f"{package}{path.name} is not in the Layout"
    for entry in layout:
        if entry.endswith(".py") or entry.count("/") > 1:  # a module, or a package inside warp/
            assert (ROOT / entry).exists(), f"the Layout names {entry}, which does not exist"
