"""The wheels that `make wheel` makes (dist/), as a user would get them.

Each one: tagged and passed by `auditwheel show` as manylinux; no libev among
the module's shared-library dependencies; the package, its stub and py.typed,
both licences, and nothing else (no benchmark, no tests); installed into a
fresh venv of its interpreter, it imports and runs a loop while the dynamic
linker is pointed at a broken libev.so.4 first. A wheel built with
AIOEV_SYSTEM_LIBEV=1 does link the system libev.

Run by `make wheel-test` (part of `make test`), which sets the environment:
  AIOEV_WHEEL_DIST     the folder with the wheels
  AIOEV_WHEEL_PLAT     the platform tag they must have
  AIOEV_WHEEL_PYTHONS  the interpreters, one wheel each
  AIOEV_WHEEL_SYSTEM   the folder with the system-libev wheel
Without them the module is skipped.
"""

import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

DIST = os.environ.get("AIOEV_WHEEL_DIST", "")
PLAT = os.environ.get("AIOEV_WHEEL_PLAT", "")
PYTHONS = os.environ.get("AIOEV_WHEEL_PYTHONS", "").split()
SYSTEM = os.environ.get("AIOEV_WHEEL_SYSTEM", "")
# auditwheel is installed beside the interpreter that runs this (make's venv).
AUDITWHEEL = shutil.which("auditwheel", path=os.path.dirname(sys.executable))
PIP = shutil.which("pip", path=os.path.dirname(sys.executable))

# What a wheel holds: the package's own modules and typing files, the metadata
# and the two licences; anything else (Tools/bench, Tests, C sources) is not
# for users.
PACKAGE_FILES = {
    "aioev/__init__.py", "aioev/_compat.py", "aioev/_loop.py", "aioev/_process.py",
    "aioev/_server.py", "aioev/_sock.py", "aioev/_aioev.pyi", "aioev/py.typed",
}
LICENCES = {"licenses/LICENSE", "licenses/libev/LICENSE"}
METADATA = {"METADATA", "WHEEL", "RECORD", "top_level.txt"}

# Run in the venv: the loop works, and the module is the installed one.
PROBE = r"""
import asyncio, sys, aioev, aioev._aioev
async def main():
    await asyncio.sleep(0.001)
    return sys.prefix
prefix = aioev.run(main())
assert aioev._aioev.__file__.startswith(prefix), (aioev._aioev.__file__, prefix)
print("ok", aioev._aioev.__file__)
"""


def python_tag(python):
    out = subprocess.run(
        [python, "-c", "import sys; print('cp%d%d' % sys.version_info[:2])"],
        check=True, capture_output=True, text=True)
    return out.stdout.strip()


def extension_of(names):
    found = [n for n in names if re.fullmatch(r"aioev/_aioev\.cpython-[^/]+\.so", n)]
    return found


def needed_libraries(so_path):
    """The DT_NEEDED entries of a shared object (readelf from binutils)."""
    out = subprocess.run(["readelf", "-d", so_path], check=True,
                         capture_output=True, text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


@unittest.skipUnless(DIST and PLAT and PYTHONS, "run by `make wheel-test`")
class WheelTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.wheels = sorted(pathlib.Path(DIST).glob("aioev-*.whl"))
        cls.tmp = tempfile.TemporaryDirectory(prefix="aioev-wheel-")
        cls.addClassCleanup(cls.tmp.cleanup)
        # A libev.so.4 the dynamic linker would fail on, were it asked for one.
        cls.broken = pathlib.Path(cls.tmp.name, "broken-libev")
        cls.broken.mkdir()
        (cls.broken / "libev.so.4").write_bytes(b"not an ELF file")
        (cls.broken / "libev.so").write_bytes(b"not an ELF file")

    def wheel_for(self, tag):
        found = [w for w in self.wheels if f"-{tag}-{tag}-" in w.name]
        self.assertEqual(len(found), 1, f"one {tag} wheel in {DIST}: {self.wheels}")
        return found[0]

    def test_one_wheel_per_interpreter_with_the_platform_tag(self):
        tags = sorted(python_tag(p) for p in PYTHONS)
        self.assertEqual(sorted(re.search(r"-(cp\d+)-cp\d+-", w.name).group(1)
                                for w in self.wheels), tags)
        for wheel in self.wheels:
            self.assertTrue(wheel.name.endswith(f"-{PLAT}.whl"), wheel.name)

    def test_auditwheel_show(self):
        self.assertIsNotNone(AUDITWHEEL, "auditwheel beside " + sys.executable)
        for wheel in self.wheels:
            with self.subTest(wheel=wheel.name):
                out = subprocess.run([AUDITWHEEL, "show", str(wheel)], check=True,
                                     capture_output=True, text=True).stdout
                text = " ".join(out.split())
                self.assertIn(f'is consistent with the following platform tag: "{PLAT}"', text)
                self.assertNotIn("libev", text)

    def test_files(self):
        for wheel in self.wheels:
            with self.subTest(wheel=wheel.name), zipfile.ZipFile(wheel) as zf:
                # auditwheel writes entries for the directories too.
                names = {n for n in zf.namelist() if not n.endswith("/")}
                ext = extension_of(names)
                self.assertEqual(len(ext), 1, sorted(names))
                info = {n for n in names if n.startswith("aioev-")}
                dist_info = {n.split("/", 1)[1] for n in info}
                self.assertEqual(names - info - set(ext), PACKAGE_FILES)
                self.assertEqual(dist_info, METADATA | LICENCES)
                self.assertFalse([n for n in names if "bench" in n or "Tests" in n])
                libev_licence = zf.read(next(n for n in info if n.endswith("libev/LICENSE")))
                self.assertIn(b"Marc Alexander Lehmann", libev_licence)
                metadata = zf.read(next(n for n in info if n.endswith("/METADATA"))).decode()
                self.assertIn("License-Expression: MIT AND (BSD-2-Clause OR GPL-2.0-or-later)",
                              metadata)
                self.assertIn("Requires-Python: <3.14,>=3.11", metadata)

    def test_no_libev_among_the_needed_libraries(self):
        for wheel in self.wheels:
            with self.subTest(wheel=wheel.name), zipfile.ZipFile(wheel) as zf:
                so = extension_of(zf.namelist())[0]
                zf.extract(so, self.tmp.name + "/" + wheel.name)
                needed = needed_libraries(os.path.join(self.tmp.name, wheel.name, so))
                self.assertTrue(needed, "readelf found the NEEDED entries")
                self.assertFalse([n for n in needed if "libev" in n], needed)

    def test_imports_and_runs_with_a_broken_libev_first_on_the_path(self):
        self.assertIsNotNone(PIP, "pip beside " + sys.executable)
        for python in PYTHONS:
            wheel = self.wheel_for(python_tag(python))
            with self.subTest(wheel=wheel.name):
                venv = os.path.join(self.tmp.name, "venv-" + python_tag(python))
                subprocess.run([python, "-m", "venv", "--without-pip", venv], check=True)
                venv_python = os.path.join(venv, "bin", "python")
                subprocess.run([PIP, "--python", venv_python, "install", "-q",
                                "--disable-pip-version-check", "--no-deps", "--no-index",
                                str(wheel)], check=True)
                env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
                env["LD_LIBRARY_PATH"] = str(self.broken)
                # cwd away from the checkout, whose Lib/aioev must not be found.
                out = subprocess.run([venv_python, "-I", "-c", PROBE], env=env,
                                     cwd=self.tmp.name, capture_output=True, text=True,
                                     timeout=60)
                self.assertEqual(out.returncode, 0, out.stderr)
                self.assertTrue(out.stdout.startswith("ok " + venv), out.stdout)

    def test_the_broken_libev_breaks_a_module_that_needs_libev(self):
        # The check above can fail: with AIOEV_SYSTEM_LIBEV=1 the module needs
        # libev.so.4, and the broken one on the path stops its import.
        wheels = sorted(pathlib.Path(SYSTEM).glob("aioev-*.whl")) if SYSTEM else []
        self.assertEqual(len(wheels), 1, f"the system-libev wheel in {SYSTEM!r}")
        with zipfile.ZipFile(wheels[0]) as zf:
            so = extension_of(zf.namelist())[0]
            zf.extractall(os.path.join(self.tmp.name, "system"))
        self.assertIn("libev.so.4", needed_libraries(os.path.join(self.tmp.name, "system", so)))
        python = next(p for p in PYTHONS if python_tag(p) in wheels[0].name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        env["PYTHONPATH"] = os.path.join(self.tmp.name, "system")
        code = "import aioev._aioev"
        ok = subprocess.run([python, "-c", code], env=env, cwd=self.tmp.name,
                            capture_output=True, text=True, timeout=60)
        self.assertEqual(ok.returncode, 0, ok.stderr)
        env["LD_LIBRARY_PATH"] = str(self.broken)
        broken = subprocess.run([python, "-c", code], env=env, cwd=self.tmp.name,
                                capture_output=True, text=True, timeout=60)
        self.assertNotEqual(broken.returncode, 0)
        self.assertIn("libev.so.4", broken.stderr)


if __name__ == "__main__":
    unittest.main()
