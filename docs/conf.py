"""Sphinx configuration of iotnet's documentation (`make docs` builds it into build/docs).

The sources are Markdown (MyST). Conventions for the code blocks, which
tests/test_docs_examples.py relies on, are in docs/README.md:

- a ```python block is a complete program: the test suite runs it and it must exit 0 on its own
  within a few seconds;
- a ```text block right after it is its exact standard output;
- a fragment that is not meant to run is a {code-block} python directive with :class: no-run.
"""
import os
import pathlib
import re
import sys

DOCS = pathlib.Path(__file__).resolve().parent
# autodoc imports the in-place build (make build), or the one IOTNET_PATH names.
sys.path.insert(0, os.environ.get("IOTNET_PATH") or str(DOCS.parent / "src"))

import iotnet  # noqa: E402

project = "iotnet"
author = "the iotnet authors"
copyright = "the iotnet authors"
release = iotnet.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinxcontrib.mermaid",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["README.md", "_build"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

# Python blocks are highlighted as Python; shell blocks as shell.
highlight_language = "python3"
pygments_style = "sphinx"

html_theme = "furo"
html_title = f"iotnet {release}"

# autodoc (reference/docstrings.md): members in source order; every object is already indexed by
# the narrative reference, so the docstring page uses :no-index:.
autodoc_member_order = "bysource"
autodoc_typehints = "none"

# Mermaid renders in the reader's browser (mermaid.js); nothing is fetched at build time.
mermaid_output_format = "raw"

_EMBEDDED_SIGNATURE = re.compile(r"^(\w+)\.(\w+)\(self(?:, )?(.*)\)$")


def _literal_docstring(app, what, name, obj, options, lines):
    """Shows each docstring as written (plain text, not reST), and an alias as "Alias of x"."""
    if not lines:
        return
    first = _EMBEDDED_SIGNATURE.match(lines[0].strip())
    if first and first.group(2) != name.rsplit(".", 1)[-1]:
        # The compiled core embeds the signature of the function an alias is bound to.
        del lines[0]
        while lines and not lines[0].strip():
            del lines[0]
        header = [f"Alias of ``{first.group(2)}``: the same object.", ""]
    else:
        header = []
    body = ["   " + line if line.strip() else "" for line in lines]
    lines[:] = header + ([".. code-block:: text", ""] + body + [""] if body else [])


def _signature_without_self(app, what, name, obj, options, signature, return_annotation):
    """Signatures as users call them: the compiled core spells `self` out."""
    if signature and signature.startswith("(self"):
        signature = "(" + signature[len("(self"):].lstrip(", ")
    return signature, return_annotation


def setup(app):
    app.connect("autodoc-process-docstring", _literal_docstring)
    app.connect("autodoc-process-signature", _signature_without_self)
