"""The optional native seal loop (src/wxguard/_sealcore.c); everything else is in
pyproject.toml. ``optional=True``: without a C compiler, Python headers or OpenSSL's
headers the install still succeeds and wxguard uses the Python loop (docs/performance.md)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "wxguard._sealcore",
            sources=["src/wxguard/_sealcore.c"],
            libraries=["crypto"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
            optional=True,
        )
    ]
)
