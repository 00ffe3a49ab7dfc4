"""Build aioev: setuptools packages Lib/aioev, CMake compiles aioev._aioev.

CMakeLists.txt is the one place that knows the compile flags; this file only
configures and builds it with the interpreter that runs the build, then lets
setuptools put the module where the wheel (or an in-place build) expects it.

Environment:
  AIOEV_LIBEV_SOURCE  a libev source tree to compile and link statically
                      (`make wheel` fetches Debian's); unset: the system libev
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
        libev = os.environ.get("AIOEV_LIBEV_SOURCE", "")
        if libev:
            libev = str(Path(libev).resolve())
        args.append(f"-DAIOEV_LIBEV_SOURCE={libev}")
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
    ext_modules=[CMakeExtension("aioev._aioev")],
    cmdclass={"build_ext": CMakeBuild},
)
