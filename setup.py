"""Builds the one extension, iotnet._core, from src/_core.pyx against the system libuv.

Compile and link flags come from `pkg-config --cflags --libs libuv`.  Set IOTNET_DEBUG=1 for the
debug build: live handle/request/buffer counters (iotnet._core.debug_counters()), C asserts
kept, and an assert that the GIL is held wherever a libuv callback enters Python.
"""
import os
import shlex
import subprocess
import sys

from setuptools import Extension, setup

LIBUV_PACKAGE_HINT = "libuv1-dev and pkg-config (Debian/Ubuntu: apt-get install libuv1-dev pkg-config)"


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "libuv"], check=True,
                             capture_output=True, text=True).stdout
    except FileNotFoundError:
        sys.exit(f"iotnet: pkg-config is not installed; install {LIBUV_PACKAGE_HINT}")
    except subprocess.CalledProcessError:
        sys.exit(f"iotnet: libuv was not found by pkg-config; install {LIBUV_PACKAGE_HINT}")
    return shlex.split(out)


def libuv_flags():
    cflags = pkg_config("--cflags")
    libs = pkg_config("--libs")
    return dict(
        include_dirs=[f[2:] for f in cflags if f.startswith("-I")],
        extra_compile_args=[f for f in cflags if not f.startswith("-I")],
        library_dirs=[f[2:] for f in libs if f.startswith("-L")],
        libraries=[f[2:] for f in libs if f.startswith("-l")],
        extra_link_args=[f for f in libs if not f.startswith(("-L", "-l"))],
    )


def extensions():
    from Cython.Build import cythonize

    debug = os.environ.get("IOTNET_DEBUG", "") not in ("", "0")
    flags = libuv_flags()
    flags["include_dirs"].insert(0, "src")
    macros = [("IOTNET_DEBUG", "1")] if debug else []
    ext = Extension("iotnet._core", ["src/_core.pyx"], define_macros=macros, **flags)
    ext.extra_compile_args += ["-O2"] + (["-UNDEBUG", "-O1", "-g"] if debug else [])
    return cythonize(
        [ext],
        include_path=["src"],
        compiler_directives={
            "language_level": 3,
            "boundscheck": False,      # indices are computed by the core, never by users
            "wraparound": False,       # no negative indexing in the core
            "initializedcheck": False,
            "cdivision": True,         # integer division only on non-negative byte counts
            "embedsignature": True,    # help() shows the Python signatures
        },
        quiet=True,
    )


setup(ext_modules=extensions())
