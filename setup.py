"""The optional compiled parts of the package: the chunking rule and the content hashes.

Everything else is declared in pyproject.toml; setuptools reads this file only for the two C
extensions in `embed_assets/corpus/`. They are accelerators: where no C compiler is found the
build goes on without them (`optional=True`) and the package runs its pure-Python paths, with
the same results. `EMBED_ASSETS_PURE_PYTHON=1` at build time leaves them out altogether and
makes a pure-Python wheel (`py3-none-any`).
"""

import os

from setuptools import Extension, setup

PURE_PYTHON = os.environ.get("EMBED_ASSETS_PURE_PYTHON", "").strip() not in ("", "0")
# MSVC takes its own flags; every other compiler CPython builds with takes these
FLAGS = [] if os.name == "nt" else ["-O3"]

setup(
    ext_modules=[]
    if PURE_PYTHON
    else [
        Extension(
            f"embed_assets.corpus.{name}",
            sources=[f"embed_assets/corpus/{name}.c"],
            extra_compile_args=FLAGS,
            optional=True,
        )
        for name in ("_splitter", "_digest")
    ]
)
