"""Every runnable Python example of the documentation (docs/**/*.md) runs and ends on its own.

The conventions (docs/README.md): a ```python fence is a complete program; a ```text fence right
after it (nothing but blank lines between) is its exact standard output; a fragment that is not
meant to run is a {code-block} python directive with `:class: no-run`. Each program runs in a
child Python that imports the same iotnet build as the tests; it must exit with status 0 within
TIMEOUT_SECONDS. Sphinx is not needed: the blocks are read from the Markdown sources as text.
"""
import pathlib
import re
import subprocess
import sys

import pytest

from helpers import subprocess_env

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
TIMEOUT_SECONDS = 30

# An opening fence: indentation, three or more backticks or tildes, then the info string.
_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*?)\s*$")
# Directives whose content is not Markdown: nothing inside them is a code block of its own.
_LITERAL_DIRECTIVES = {"code-block", "code", "sourcecode", "code-cell", "literalinclude",
                       "mermaid", "eval-rst", "raw", "math", "csv-table"}
_PYTHON = {"python", "python3", "py"}


class Block:
    def __init__(self, path, start, end, info, options, text):
        self.path = path
        self.start = start          # 0-based index of the opening fence's line
        self.end = end              # 0-based index of the closing fence's line
        self.info = info            # 'python', '{code-block} python', ...
        self.options = options      # directive options (':class: no-run' -> {'class': 'no-run'})
        self.text = text
        self.expected_output = None

    @property
    def name(self):
        return f"{self.path.relative_to(DOCS).as_posix()}:{self.start + 1}"

    @property
    def language(self):
        """(directive or None, language): '{code-block} python' -> ('code-block', 'python')."""
        directive = _DIRECTIVE.match(self.info)
        if directive:
            return directive.group(1), directive.group(2).strip()
        return None, (self.info.split() or [""])[0]


_DIRECTIVE = re.compile(r"\{([\w:.-]+)\}\s*(.*)")


def _closes(line, fence):
    """Whether `line` closes a block opened by `fence` (same character, at least as long)."""
    stripped = line.strip()
    return len(stripped) >= len(fence) and set(stripped) == {fence[0]}


def _directive_options(body):
    """Splits MyST's leading ':key: value' lines from a directive's content."""
    options = {}
    while body and body[0].startswith(":"):
        key, _, value = body.pop(0)[1:].partition(":")
        options[key.strip()] = value.strip()
    return options, body


def parse_blocks(path):
    """Every fenced code block of a MyST page, in order; directives whose content is Markdown
    (admonitions and the like) are opened up, so the blocks inside them count too."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks = []
    containers = []         # the fences of the Markdown directives we are inside of
    i = 0
    while i < len(lines):
        if containers and _closes(lines[i], containers[-1]):
            containers.pop()
            i += 1
            continue
        match = _FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        fence, info = match.group("fence"), match.group("info")
        directive = _DIRECTIVE.match(info)
        if directive and directive.group(1) not in _LITERAL_DIRECTIVES:
            containers.append(fence)
            i += 1
            continue
        start = i
        i += 1
        while i < len(lines) and not _closes(lines[i], fence):
            i += 1
        body = lines[start + 1:i]
        options = {}
        if directive:
            options, body = _directive_options(body)
        blocks.append(Block(path, start, i, info, options, "\n".join(body) + "\n"))
        i += 1
    return blocks


def _pages():
    return [path for path in sorted(DOCS.rglob("*.md"))
            if path.name != "README.md" and "_build" not in path.parts]


def runnable_blocks():
    """The ```python blocks of every page, each with the ```text block right after it."""
    runnable = []
    for path in _pages():
        lines = path.read_text(encoding="utf-8").splitlines()
        blocks = parse_blocks(path)
        for block, following in zip(blocks, blocks[1:] + [None]):
            if block.language != (None, "python"):
                continue
            runnable.append(block)
            if (following is not None and following.language == (None, "text")
                    and not any(line.strip() for line in lines[block.end + 1:following.start])):
                block.expected_output = following.text
    return runnable


def unmarked_fragments():
    """Python blocks that would be neither run nor knowingly skipped: code-block directives
    without :class: no-run, and fences spelled ```py or ```python3 instead of ```python."""
    found = []
    for path in _pages():
        for block in parse_blocks(path):
            directive, language = block.language
            if language not in _PYTHON:
                continue
            if directive is None and language != "python":
                found.append(block.name)
            elif (directive in ("code-block", "code", "sourcecode")
                  and "no-run" not in block.options.get("class", "").split()):
                found.append(block.name)
    return found


RUNNABLE = runnable_blocks()


def test_the_docs_have_runnable_examples():
    """The parser found the examples (a broken parser would otherwise pass vacuously)."""
    assert len(RUNNABLE) >= 20, [block.name for block in RUNNABLE]
    assert sum(block.expected_output is not None for block in RUNNABLE) >= 15


def test_every_python_fragment_is_marked():
    """A Python code-block directive must carry :class: no-run (else write a ```python fence)."""
    assert unmarked_fragments() == []


@pytest.mark.parametrize("block", RUNNABLE, ids=[block.name for block in RUNNABLE])
def test_example_runs(block, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(block.text, encoding="utf-8")
    try:
        result = subprocess.run([sys.executable, str(script)], cwd=tmp_path,
                                env=subprocess_env(), stdin=subprocess.DEVNULL,
                                capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{block.name}: still running after {TIMEOUT_SECONDS} s; output so far:\n"
                    f"{exc.stdout or ''}{exc.stderr or ''}")
    assert result.returncode == 0, (
        f"{block.name} exited with status {result.returncode}\n"
        f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}")
    if block.expected_output is not None:
        actual = [line.rstrip() for line in result.stdout.rstrip("\n").split("\n")]
        expected = [line.rstrip() for line in block.expected_output.rstrip("\n").split("\n")]
        assert actual == expected, f"{block.name}: stderr:\n{result.stderr}"
