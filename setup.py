"""The compiled parts of the package: the chunking rule and the content hashes (C, in corpus/).

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
        ),
        Extension(
            "embed_assets.corpus._digest",
            sources=["embed_assets/corpus/_digest.c"],
            extra_compile_args=["-O3"],
        ),
    ]
)
