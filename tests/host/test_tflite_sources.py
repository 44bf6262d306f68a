"""The tflite module's source list: cmodules/tflite/sources.mk is the one list the unix build
(micropython.mk), the ESP-IDF build (micropython.cmake), the fuzzer (fuzz/Makefile) and the
native module (natmod/Makefile) read.
Make's reading and the line form micropython.cmake parses must agree and name every C file;
the core stays free of MicroPython and of the C heap. (tests/tflite/check_cmake_sources.cmake
runs micropython.cmake itself; cmake comes with make setup.)"""
import pathlib
import re
import subprocess

ROOT = pathlib.Path(__file__).resolve().parents[2]
MOD = ROOT / "cmodules/tflite"
# The form micropython.cmake's file(STRINGS ... REGEX) and REGEX REPLACE accept.
CMAKE_LINE = re.compile(r"^TFLITE_[A-Z]+_SRC \+= *([^ ]+) *$")


def make_lists():
    """TFLITE_BINDING_SRC and TFLITE_CORE_SRC as make reads sources.mk."""
    prog = "include sources.mk\nall:\n\t@echo $(TFLITE_BINDING_SRC)\n\t@echo $(TFLITE_CORE_SRC)\n"
    r = subprocess.run(["make", "-s", "-f", "-", "all"], input=prog, cwd=MOD, capture_output=True, text=True,
                       check=True)
    binding, core = r.stdout.splitlines()
    return binding.split(), core.split()


def test_make_and_cmake_read_the_same_list_of_every_c_file():
    binding, core = make_lists()
    lines = [ln for ln in (MOD / "sources.mk").read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    cmake = []
    for ln in lines:
        m = CMAKE_LINE.match(ln)
        assert m, f"sources.mk line micropython.cmake would not read: {ln!r}"
        cmake.append(m.group(1))
    assert cmake == binding + core
    # (fuzz/ and natmod/ hold their builds' own entry files)
    on_disk = sorted(p.relative_to(MOD).as_posix() for p in MOD.rglob("*.c") if not {"fuzz", "natmod"} & set(p.parts))
    assert sorted(cmake) == on_disk
    assert binding == ["modtflite.c"]


def test_every_build_reads_sources_mk_and_names_no_source_itself():
    own = {"fuzz_tflite.c", "tflite_natmod.c", "natlibc.c", "../modtflite.c"}  # natmod: modtflite.c
    # is the binding its tflite_natmod.c includes (a dependency, scanned for qstrs)
    for build in ("micropython.mk", "micropython.cmake", "fuzz/Makefile", "natmod/Makefile"):
        text = (MOD / build).read_text()
        assert "sources.mk" in text, build
        code = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
        named = [n for n in re.findall(r"[\w/.]+\.c\b", code) if n not in own]
        assert not named, f"{build} names {named}"


def test_the_core_needs_neither_micropython_nor_the_heap():
    _, core = make_lists()
    headers = [MOD / "tfl.h", MOD / "fixedpoint.h", *MOD.glob("ops/*.h")]
    for path in [MOD / c for c in core] + headers:
        text = path.read_text()
        assert not re.search(r'#include\s+[<"](py|extmod)/', text), path
        assert not re.search(r"\b(malloc|calloc|realloc|free)\s*\(", text), path


def test_esp_idf_cmake_file_hands_over_every_source():
    """micropython.cmake itself, run by cmake with ESP-IDF's target commands stubbed."""
    r = subprocess.run(["cmake", "-P", str(ROOT / "tests/tflite/check_cmake_sources.cmake")], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
