"""The documentation site: the Chinese pages carry the English pages' code, and
``mkdocs build --strict`` passes, running every code block of the tutorial and
how-to pages (about 1-2 minutes with a warm kernel cache)."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(```[^\n]*\n.*?^```)\s*$", re.S | re.M)
BUILD_NEEDS = (
    "mkdocs",
    "material",
    "mkdocstrings",
    "mkdocstrings_handlers.python",
    "mkdocs_static_i18n",
    "markdown_exec",
    "matplotlib",
)


def _translated_pages():
    return sorted(DOCS.rglob("*.zh.md"))


def _code_blocks(path):
    return FENCE.findall(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "translated", _translated_pages(), ids=lambda p: str(p.relative_to(DOCS))
)
def test_translation_has_the_same_code(translated):
    english = translated.with_name(translated.name.replace(".zh.md", ".md"))
    assert english.exists(), f"{translated} has no English page"
    assert _code_blocks(translated) == _code_blocks(english), (
        f"{translated.name}: code blocks differ from {english.name} "
        "(both languages run the same code)"
    )


def test_every_english_page_with_code_is_translated():
    for folder in ("tutorial", "howto"):
        for page in (DOCS / folder).glob("*.md"):
            if page.name.endswith(".zh.md"):
                continue
            assert page.with_name(page.stem + ".zh.md").exists(), (
                f"{page.relative_to(DOCS)} has no Chinese version"
            )


@pytest.mark.docs
@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path, mnist_dir):
    missing = [m for m in BUILD_NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        pytest.skip(f"documentation tools not installed: {', '.join(missing)}")
    env = {**os.environ, "FASTNN_DATA_DIR": str(mnist_dir), "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-20000:]
    for page in ("tutorial/07-mnist", "zh/tutorial/07-mnist", "reference/kernels"):
        assert (tmp_path / page / "index.html").exists(), page
    # every chapter draws its figures during the build, inlined as SVG
    chapters = sorted((tmp_path / "tutorial").glob("0*/index.html"))
    chapters += sorted((tmp_path / "zh" / "tutorial").glob("0*/index.html"))
    assert len(chapters) == 16
    for page in chapters:
        assert "https://matplotlib.org" in page.read_text("utf-8"), page
