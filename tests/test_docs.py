"""The README is a short front page, and every relative link of it and of ``docs/`` resolves.

Checks links and image references (Markdown ``[text](target)`` / ``![alt](target)`` and HTML
``src``/``href``) outside code, their ``#anchors`` against the target page's headings (GitHub's
slugs), and the repository paths the pages name in inline code (``qa/…/x.py``). No model is loaded.
"""
from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_README_LINES = 300
MIN_DOC_PAGES = 3

FENCE = re.compile(r"^\s*(```|~~~)")
INLINE_CODE = re.compile(r"`[^`\n]*`")
MD_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"""<(?:img|a|source)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.IGNORECASE)
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_PATH = re.compile(r"`((?:qa|eval|tests)/[\w./-]*\.py|app\.py)`")
DOTTED = re.compile(r"`(qa(?:\.\w+)+)")
EVAL_PATH = re.compile(r"(?<![\w./-])eval/[\w./-]*")
EVAL_DOTTED = re.compile(r"(?<![\w./-])eval(?:\.\w+)+")
EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


@dataclass(frozen=True)
class Link:
    """One relative link found in a Markdown page.

    Attributes:
        page: The page that holds the link.
        line: Its 1-based line number.
        target: The link as written, e.g. ``docs/reader.md#the-reader-model``.
    """

    page: Path
    line: int
    target: str


def pages() -> list[Path]:
    """Return README.md and every Markdown page under docs/, README first."""
    return [README, *sorted(DOCS.glob("**/*.md"))]


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (line number, line) of the lines outside fenced code blocks, inline code removed."""
    in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        if not in_fence:
            yield number, INLINE_CODE.sub("", line)


def relative_links(page: Path) -> list[Link]:
    """Return the links of ``page`` that point inside the repository (not URLs or mail)."""
    found = []
    for number, line in prose_lines(page.read_text(encoding="utf-8")):
        for match in [*MD_LINK.finditer(line), *HTML_LINK.finditer(line)]:
            target = match.group(1)
            if not EXTERNAL.match(target):
                found.append(Link(page, number, target))
    return found


def slug(heading: str) -> str:
    """Return GitHub's anchor for a heading's text.

    Args:
        heading: The heading as written, without its ``#`` marks.

    Returns:
        Lower case, links reduced to their text, punctuation dropped, spaces as hyphens.
    """
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Return every anchor of a Markdown page's headings, with GitHub's ``-1``, ``-2`` for repeats."""
    seen: dict[str, int] = {}
    result = set()
    in_fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if match:
            base = slug(match.group(2))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
    return result


def problem(link: Link, root: Path = ROOT) -> str | None:
    """Say what is wrong with a link, or return None when it resolves.

    Args:
        link: A relative link found by :func:`relative_links`.
        root: The repository root; a link may not leave it.

    Returns:
        A message naming the page, line and target, or None.
    """
    path_part, _, anchor = link.target.partition("#")
    where = f"{link.page.relative_to(root)}:{link.line}: {link.target}"
    target = link.page if not path_part else (link.page.parent / path_part).resolve()
    if not target.is_relative_to(root):
        return f"{where} points outside the repository"
    if not target.exists():
        return f"{where} names {target.relative_to(root)}, which does not exist"
    if anchor and target.suffix == ".md" and anchor not in anchors(target):
        return f"{where} names an anchor {target.relative_to(root)} has no heading for"
    return None


def test_readme_is_a_short_front_page() -> None:
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines; move detail to docs/ (at most {MAX_README_LINES})"
    assert "make chat" in README.read_text(encoding="utf-8") and "make test" in README.read_text(encoding="utf-8")


def test_there_are_docs_pages_and_the_readme_links_each() -> None:
    docs = sorted(DOCS.glob("*.md"))
    assert len(docs) >= MIN_DOC_PAGES, f"docs/ has {len(docs)} pages, want at least {MIN_DOC_PAGES}"
    linked = {(README.parent / link.target.partition("#")[0]).resolve() for link in relative_links(README)}
    unlinked = [page.name for page in docs if page.resolve() not in linked]
    assert not unlinked, f"README.md links no docs page named {unlinked}"


def test_every_relative_link_resolves() -> None:
    links = [link for page in pages() for link in relative_links(page)]
    assert any(link.target.startswith("docs/") for link in links)  # the scan found the README's links
    problems = [message for link in links if (message := problem(link))]
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_the_screenshot_is_a_small_png() -> None:
    images = [link for link in relative_links(README) if link.target.endswith(".png")]
    assert images, "README.md shows no screenshot"
    for link in images:
        path = README.parent / link.target
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{link.target} is not a PNG"
        assert path.stat().st_size < 250_000, f"{link.target} is {path.stat().st_size} bytes; optimise it below 250 KB"


def test_code_paths_named_by_the_pages_exist() -> None:
    missing = []
    for page in pages():
        for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
            missing += [f"{page.relative_to(ROOT)}:{number}: {path}" for path in CODE_PATH.findall(line)
                        if not (ROOT / path).exists()]
    assert not missing, "paths that do not exist:\n" + "\n".join(missing)


def top_level_names(module: Path) -> set[str]:
    """Return the names a module defines, imports or lists in ``__all__`` at its top level (read with ``ast``)."""
    names = set()
    for node in ast.parse(module.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(target.id for target in targets if isinstance(target, ast.Name))
            if any(isinstance(target, ast.Name) and target.id == "__all__" for target in targets):
                names.update(ast.literal_eval(node.value))  # names a package serves lazily (``qa.load``)
    return names


def dotted_problem(name: str, root: Path = ROOT) -> str | None:
    """Say why a dotted name such as ``qa.index.local.manifest.verify_index`` does not exist, or return None.

    Args:
        name: A name in code style that starts with ``qa.``.
        root: The repository root.

    Returns:
        None when the longest prefix that is a module or package exists and the rest, if any, is one
        top-level name of it (``qa.load``, ``qa.web.server.bind``); else a message.
    """
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        base = root.joinpath(*parts[:cut])
        module = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        if module.exists():
            rest = parts[cut:]
            if not rest:
                return None
            if len(rest) == 1 and rest[0] in top_level_names(module):
                return None
            return f"{name}: {module.relative_to(root)} has no top-level {'.'.join(rest)}"
    return f"{name}: no such module"


def test_dotted_names_named_by_the_pages_exist() -> None:
    missing = [f"{page.relative_to(ROOT)}: {message}" for page in pages()
               for name in sorted(set(DOTTED.findall(page.read_text(encoding="utf-8"))))
               if (message := dotted_problem(name))]
    assert not missing, "names that do not exist:\n" + "\n".join(missing)


def test_a_moved_name_is_reported() -> None:
    assert dotted_problem("qa.index.local.manifest.verify_index") is None
    assert dotted_problem("qa.load") is None
    assert dotted_problem("qa.index.local.store.no_such_function") == (
        "qa.index.local.store.no_such_function: qa/index/local/store.py has no top-level no_such_function")
    assert dotted_problem("qa.no_such_module.thing") == "qa.no_such_module.thing: qa/__init__.py has no top-level no_such_module.thing"


@pytest.mark.parametrize(("heading", "anchor"), [
    ("Targets of issue 16, as measured here", "targets-of-issue-16-as-measured-here"),
    ("The reader's cost", "the-readers-cost"),
    ("On paper: a 3-node cluster", "on-paper-a-3-node-cluster"),
    ("`qa/web/`: the server", "qaweb-the-server"),
    ("See [the API](x.md)", "see-the-api"),
])
def test_slug_follows_github(heading: str, anchor: str) -> None:
    assert slug(heading) == anchor


def test_the_checker_reports_what_is_broken(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# A page\n\n## Second part\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text(
        "See [a](docs/a.md#second-part), [gone](docs/gone.md), [bad anchor](docs/a.md#nope),\n"
        "![shot](docs/a.md) and [web](https://example.org/x.md), [self](#top-title), [up](../x.md).\n"
        "```\n[in code](docs/missing.md)\n```\n`[inline](docs/missing.md)` <img src=\"docs/none.png\">\n"
        "# Top title\n",
        encoding="utf-8",
    )
    links = relative_links(page)
    assert [link.target for link in links] == [
        "docs/a.md#second-part", "docs/gone.md", "docs/a.md#nope", "docs/a.md", "#top-title", "../x.md", "docs/none.png"]
    ok, gone, bad_anchor, image, own_anchor, outside, html_image = (problem(link, root=tmp_path) for link in links)
    assert ok is None and image is None and own_anchor is None
    assert gone == "README.md:1: docs/gone.md names docs/gone.md, which does not exist"
    assert bad_anchor == "README.md:1: docs/a.md#nope names an anchor docs/a.md has no heading for"
    assert outside == "README.md:2: ../x.md points outside the repository"
    assert html_image == "README.md:6: docs/none.png names docs/none.png, which does not exist"


def eval_problems(text: str, root: Path = ROOT) -> list[str]:
    """The ``eval/...`` paths and ``eval.`` module names of a page that do not exist (code blocks included).

    ``eval/out/`` is where the scripts write, so paths under it are not checked.
    """
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        for path in EVAL_PATH.findall(line):
            path = path.rstrip(".")
            if not path.startswith("eval/out/") and not (root / path).exists():
                found.append(f"{number}: {path} does not exist")
        found += [f"{number}: {message}" for name in EVAL_DOTTED.findall(line) if (message := dotted_problem(name, root))]
    return found


def test_eval_paths_and_modules_named_by_the_pages_exist() -> None:
    named = [f"{page.relative_to(ROOT)}:{problem}" for page in pages() for problem in eval_problems(page.read_text(encoding="utf-8"))]
    assert not named, "eval/ paths and modules that do not exist:\n" + "\n".join(named)
    assert any(EVAL_DOTTED.search(page.read_text(encoding="utf-8")) for page in pages())


def test_a_moved_eval_path_or_module_is_reported() -> None:
    text = ("make eval = `python -m eval.scoring.run --dataset eval/data/squad2_dev_sample.json --json eval/out/x.json`.\n"
            "Old: python eval/bench.py and eval.bench_http; the evaluation of retrieval. eval/bench/ and eval.bench.run.main\n")
    assert eval_problems(text) == ["2: eval/bench.py does not exist", "2: eval.bench_http: eval/__init__.py has no top-level bench_http"]
