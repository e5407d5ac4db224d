"""`make docs`: the site builds strict and offline, and no internal link or anchor is broken."""

from __future__ import annotations

import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
MKDOCS = Path(sys.executable).parent / "mkdocs"


class Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key in ("id", "name") and value:
                self.ids.add(value)
            if key in ("href", "src") and value and tag != "base":
                self.links.append(value)


def build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    command = [str(MKDOCS), "build", "--strict", "--site-dir", str(site)]
    return subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=110)


def parse(page: Path) -> Links:
    links = Links()
    links.feed(page.read_text())
    return links


def broken_links(site: Path) -> list[str]:
    pages = {p: parse(p) for p in site.rglob("*.html") if p.name != "404.html"}
    broken = []
    for page, links in pages.items():
        for link in links.links:
            url = urlsplit(link)
            if url.scheme or url.netloc or link.startswith(("mailto:", "data:", "javascript:")):
                continue
            target = (page.parent / unquote(url.path)).resolve() if url.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                broken.append(f"{page.relative_to(site)}: {link} (no such file)")
            elif url.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if unquote(url.fragment) not in ids:
                    broken.append(f"{page.relative_to(site)}: {link} (no such anchor)")
    return broken


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    site = tmp_path_factory.mktemp("site")
    done = build(ROOT, site)
    assert done.returncode == 0, done.stderr[-3000:]
    return site


def test_the_docs_build_strict_with_no_broken_internal_link(site: Path) -> None:
    assert (site / "index.html").exists() and (site / "ci" / "index.html").exists()
    assert broken_links(site) == []


def test_the_site_fetches_nothing_from_the_network(site: Path) -> None:
    text = "".join(p.read_text() for p in site.rglob("*.html"))
    assert "fonts.googleapis.com" not in text and "fonts.gstatic.com" not in text


def test_a_broken_link_fails_the_strict_build(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(ROOT / "docs", project / "docs")
    shutil.copy(ROOT / "mkdocs.yml", project)
    index = project / "docs" / "index.md"
    index.write_text(index.read_text() + "\nSee [nowhere](no-such-page.md).\n")
    done = build(project, tmp_path / "site")
    assert done.returncode != 0
    assert "no-such-page.md" in done.stderr


def test_the_link_check_finds_a_missing_anchor(site: Path, tmp_path: Path) -> None:
    copy = tmp_path / "site"
    shutil.copytree(site, copy)
    page = copy / "index.html"
    page.write_text(page.read_text().replace("</body>", '<a href="ci/#no-such">x</a></body>'))
    assert broken_links(copy) == ["index.html: ci/#no-such (no such anchor)"]
