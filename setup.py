"""Build aioev: setuptools packages Lib/aioev, CMake compiles aioev._aioev.

CMakeLists.txt is the one place that knows the compile flags; this file only
configures and builds it with the interpreter that runs the build, then lets
setuptools put the module where the wheel (or an in-place build) expects it.

libev is compiled from source into the module by default, so a wheel needs
no libev where it is installed. Its source comes from, in this order:
  AIOEV_LIBEV_SOURCE  a libev source tree (the one holding ev.c), if set;
  libev/              the copy an sdist carries (made when the sdist is);
  Debian's source package, fetched by Tools/fetch-libev-source.sh into
                      build/libev through a private apt configuration.
The files that are compiled, and libev's LICENSE, are copied into libev/
(not in git), which the sdist carries and from which libev's licence goes
into the wheel's metadata.

Environment:
  AIOEV_SYSTEM_LIBEV=1  link the system's libev (libev-dev) instead: the
                      module then needs libev.so.4 at run time
  AIOEV_LIBEV_SOURCE  a libev source tree to compile in (see above)
  AIOEV_BUILD_TYPE    CMake build type (default: Release)
  AIOEV_CMAKE_ARGS    extra arguments for the CMake configure step
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, find_packages, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
# The copy of libev's source that is compiled in and that the sdist carries.
LIBEV_COPY = ROOT / "libev"
LIBEV_FILES = ("ev.[ch]", "ev_*.[ch]", "LICENSE", "README", "Changes")


def _system_libev():
    return os.environ.get("AIOEV_SYSTEM_LIBEV", "") not in ("", "0")


def _copy_libev(tree):
    """Copy what is compiled (ev.c includes its backends) and the licence."""
    tree = Path(tree).resolve()
    if not (tree / "ev.c").exists() or not (tree / "LICENSE").exists():
        sys.exit(f"aioev: {tree} holds no libev source (ev.c, LICENSE)")
    if tree == LIBEV_COPY.resolve():
        return
    shutil.rmtree(LIBEV_COPY, ignore_errors=True)
    LIBEV_COPY.mkdir()
    for pattern in LIBEV_FILES:
        for f in sorted(tree.glob(pattern)):
            shutil.copy2(f, LIBEV_COPY / f.name)
    (LIBEV_COPY / "ORIGIN").write_text(f"{tree.name}, copied by aioev's setup.py\n")


def _libev_source():
    """The libev tree to compile in (None: the system libev). Runs before
    setup(), so the copy exists when the sdist's file list and the licence
    files are collected."""
    if _system_libev():
        return None
    given = os.environ.get("AIOEV_LIBEV_SOURCE", "")
    if given:
        _copy_libev(given)
    elif not (LIBEV_COPY / "ev.c").exists():
        fetch = ROOT / "Tools" / "fetch-libev-source.sh"
        tree = subprocess.run(["bash", str(fetch), str(ROOT / "build" / "libev")],
                              check=True, stdout=subprocess.PIPE, text=True,
                              cwd=ROOT).stdout.strip()
        _copy_libev(tree)
    return LIBEV_COPY


LIBEV = _libev_source()


class CMakeExtension(Extension):
    """An extension whose sources CMakeLists.txt lists, not setuptools."""

    def __init__(self, name):
        super().__init__(name, sources=[])


def _tool(name):
    """Prefer the cmake/ninja installed beside this interpreter (the build
    requirements from PyPI), then whatever is on PATH."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if found is None:
        sys.exit(f"aioev: {name} not found; it is a build requirement "
                 f"(pip install {name})")
    return found


class CMakeBuild(build_ext):
    def build_extension(self, ext):
        if not isinstance(ext, CMakeExtension):
            return super().build_extension(ext)

        target = Path(self.get_ext_fullpath(ext.name)).resolve()
        suffix = target.name[len("_aioev"):]
        build_dir = Path(self.build_temp).resolve() / "cmake"
        build_dir.mkdir(parents=True, exist_ok=True)

        cmake = _tool("cmake")
        args = [
            "-S", str(ROOT),
            "-B", str(build_dir),
            "-G", "Ninja",
            f"-DCMAKE_MAKE_PROGRAM={_tool('ninja')}",
            f"-DPython_EXECUTABLE={sys.executable}",
            f"-DCMAKE_BUILD_TYPE={os.environ.get('AIOEV_BUILD_TYPE', 'Release')}",
            "-DAIOEV_TESTS=OFF",
            f"-DAIOEV_EXT_OUTPUT_DIR={target.parent}",
            f"-DAIOEV_EXT_SUFFIX={suffix}",
        ]
        # Always passed, so a reused build directory forgets an earlier choice.
        args.append(f"-DAIOEV_LIBEV_SOURCE={LIBEV or ''}")
        args += shlex.split(os.environ.get("AIOEV_CMAKE_ARGS", ""))

        subprocess.run([cmake, *args], check=True)
        build = [cmake, "--build", str(build_dir), "--target", "_aioev"]
        if self.parallel:
            build += ["--parallel", str(self.parallel)]
        subprocess.run(build, check=True)
        if not target.exists():
            sys.exit(f"aioev: CMake did not produce {target}")


setup(
    package_dir={"": "Lib"},
    packages=find_packages("Lib"),
    # PEP 561: the package is typed; _aioev.pyi describes the C module.
    package_data={"aioev": ["py.typed", "*.pyi"]},
    ext_modules=[CMakeExtension("aioev._aioev")],
    cmdclass={"build_ext": CMakeBuild},
)
