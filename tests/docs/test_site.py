"""The documentation site builds with broken links and anchors as errors; the README is a front
page whose links resolve; external links are well formed (they cannot be fetched here: the
tests send traffic to loopback only, so they are checked for syntax, not reachability)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
README = REPO / "README.md"
MKDOCS = REPO / ".venv" / "bin" / "mkdocs"

# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
URL = re.compile(r"https?://[^\s)<>`\"'\]|]+")
HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MKDOCS), "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
    )


def test_the_site_builds_in_strict_mode(tmp_path: Path) -> None:
    result = _build(REPO / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "site" / "reference" / "settings" / "index.html").is_file()
    assert (tmp_path / "site" / "security" / "live" / "index.html").is_file()


@pytest.mark.parametrize(
    ("breakage", "named"),
    [
        ("link", "no-such-page.md"),
        ("anchor", "no-such-heading"),
        ("orphan", "orphan.md"),
    ],
)
def test_a_broken_link_an_unknown_anchor_or_a_page_outside_the_nav_fails_the_build(
    tmp_path: Path, breakage: str, named: str
) -> None:
    shutil.copytree(DOCS, tmp_path / "docs")
    shutil.copy(REPO / "mkdocs.yml", tmp_path / "mkdocs.yml")
    library = tmp_path / "docs" / "library.md"
    text = library.read_text(encoding="utf-8")
    if breakage == "link":
        library.write_text(text + "\n[gone](no-such-page.md)\n", encoding="utf-8")
    elif breakage == "anchor":
        library.write_text(text + "\n[no anchor](live.md#no-such-heading)\n", encoding="utf-8")
    else:
        (tmp_path / "docs" / "orphan.md").write_text("# Not in the nav\n", encoding="utf-8")
    result = _build(tmp_path / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    warnings = [line for line in result.stderr.splitlines() if not line.startswith("INFO")]
    assert any(named in line for line in warnings), result.stderr


def _markdown_files() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def test_relative_links_of_the_readme_resolve() -> None:
    text = README.read_text(encoding="utf-8")
    targets = [t for t in LINK.findall(text) if not re.match(r"^[a-z]+:", t)]
    assert len(targets) >= 10  # the front page links into the site
    broken = []
    for target in targets:
        path = target.split("#", 1)[0]
        if path and not (REPO / path).exists():
            broken.append(target)
    assert not broken, f"README.md links to files that do not exist: {broken}"


def test_the_readme_links_every_page_of_the_navigation() -> None:
    text = README.read_text(encoding="utf-8")
    lines = (REPO / "mkdocs.yml").read_text(encoding="utf-8").splitlines()
    nav = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    nav_pages = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", nav, flags=re.M))
    assert {"index.md", "reference/cli.md", "security/live.md"} <= nav_pages
    linked = {t.removeprefix("docs/").split("#")[0] for t in LINK.findall(text)}
    # a page of a section (security/...) is reached through the section's overview
    unreached = sorted(
        page
        for page in nav_pages - {"index.md"}
        if page not in linked
        and not (page.startswith("security/") and "security/index.md" in linked)
    )
    assert not unreached, f"README.md does not link to: {unreached}"


def well_formed(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname
    return host in ("localhost", "127.0.0.1") or bool(HOSTNAME.match(host))


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://www.mkdocs.org/", True),
        ("https://exttest.cybertip.org/ispws", True),
        ("http://127.0.0.1:5000/ui/", True),
        ("https//www.mkdocs.org/", False),
        ("https://www/", False),
        ("https://exa_mple.org/", False),
        ("ftp://example.org/", False),
    ],
)
def test_the_link_syntax_check(url: str, ok: bool) -> None:
    assert well_formed(url) is ok


def _prose(text: str) -> str:
    """Markdown without code blocks and inline code (their URLs are examples, not links)."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def test_external_links_are_well_formed() -> None:
    urls = [
        (path, url.rstrip(".,;:"))
        for path in _markdown_files()
        for url in URL.findall(_prose(path.read_text(encoding="utf-8")))
    ]
    assert len(urls) >= 3
    bad = [f"{path.relative_to(REPO)}: {url}" for path, url in urls if not well_formed(url)]
    assert not bad, f"malformed links: {bad}"


def test_the_readme_is_a_front_page_with_the_two_commands() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text) < 15_000, "README.md grew back into a manual: move reference text to docs/"
    setup = text.split("## Set-up: two commands", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", setup, flags=re.S)
    assert block is not None
    commands = [line.split("#")[0].strip() for line in block.group(1).splitlines()]
    assert commands == ["scripts/demo", "scripts/test"]
    for command in commands:
        assert os.access(REPO / command, os.X_OK), command


def _distributions(requirements: list[str]) -> list[str]:
    return [re.split(r"[\[<>=!~;\s]", r, maxsplit=1)[0] for r in requirements]


def test_every_dependency_says_why_in_the_readme_and_the_dependencies_page() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    names = _distributions(project["dependencies"])
    names += _distributions(project["optional-dependencies"]["dev"])
    assert {"pdqhash", "fastapi", "mkdocs"} <= set(names)
    readme = README.read_text(encoding="utf-8")
    page = (DOCS / "dependencies.md").read_text(encoding="utf-8")
    not_in_readme = [n for n in names if f"**{n}**" not in readme]
    not_in_page = [n for n in names if not re.search(rf"(^\| |, ){re.escape(n)}\b", page, re.M)]
    assert not not_in_readme, f"README.md does not list: {not_in_readme}"
    assert not not_in_page, f"docs/dependencies.md does not explain: {not_in_page}"
