"""The compiled part of the package: the chunking rule (`embed_assets/corpus/_splitter.c`).

Everything else is declared in pyproject.toml; setuptools reads this file only for the
extension, which any C compiler for CPython builds (gcc here).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "embed_assets.corpus._splitter",
            sources=["embed_assets/corpus/_splitter.c"],
            extra_compile_args=["-O3"],
        )
    ]
)
