"""The one compiled part, optional: sanitize works without it (pyproject.toml holds the rest).

sanitize/load/_entropy.c reads a JPEG's entropy-coded data for the damage libjpeg-turbo decodes
silently (decode:concealed_corruption, docs/checks.md), and sanitize/load/_grid_step.c runs the step
check on what it gives (sanitize/load/dc_grid.py). Where no C compiler is at hand the build goes on
without it, and the detector falls back to the pixels alone.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "sanitize.load._entropy",
            ["sanitize/load/_entropy.c", "sanitize/load/_grid_step.c"],
            depends=["sanitize/load/_grid_step.h"],
            extra_compile_args=["-O3", "-std=c11", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
            optional=True,
        )
    ]
)
