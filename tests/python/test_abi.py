"""The Python declarations (vkattn/_lib.py) against runtime/include/vkattn.h:
every function prototype, every struct (fields, types, sizes and offsets
from a C compiler), every enum value and #define; and the loader."""

import ctypes
import os
import re
import shutil
import subprocess
import sys
import tempfile

import pytest

import vkattn
from vkattn import _lib
from conftest import HEADER, REPO


def _header_text():
    with open(HEADER) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return text


def _norm_decl(s):
    s = " ".join(s.split())
    s = re.sub(r"\s*\*\s*", " *", s)
    s = re.sub(r"\s*([(),])\s*", r"\1", s)
    return s.replace("VKATTN_API ", "").strip()


def header_functions():
    """{name: (normalized declaration, return type, [param types])}"""
    out = {}
    for m in re.finditer(r"VKATTN_API\s+([^;{]*?\([^;]*?\))\s*;", _header_text(), flags=re.S):
        decl = _norm_decl(m.group(1))
        head, params = decl.split("(", 1)
        params = params.rsplit(")", 1)[0]
        name = re.findall(r"\w+", head)[-1]
        ret = head[:head.rfind(name)].strip()
        ptypes = []
        if params.strip() not in ("", "void"):
            for p in params.split(","):
                p = p.strip()
                pname = re.findall(r"\w+", p)[-1]
                ptypes.append(p[:p.rfind(pname)].strip())
        out[name] = (decl, ret, ptypes)
    return out


STRUCT_CLASSES = {
    "vkattn_device_info": _lib.DeviceInfo,
    "vkattn_context_options": _lib.ContextOptions,
    "vkattn_memory_stats": _lib.MemoryStats,
    "vkattn_view": _lib.View,
    "vkattn_attention_desc": _lib.AttentionDesc,
    "vkattn_call_info": _lib.CallInfo,
}

_SCALARS = {
    "uint8_t": ctypes.c_uint8, "char": ctypes.c_char, "int32_t": ctypes.c_int32, "uint32_t": ctypes.c_uint32,
    "int64_t": ctypes.c_int64, "uint64_t": ctypes.c_uint64, "size_t": ctypes.c_size_t, "float": ctypes.c_float,
    "double": ctypes.c_double, "int": ctypes.c_int, "void": None,
    "vkattn_context": ctypes.c_void_p, "vkattn_tensor": ctypes.c_void_p,
}


def _enum_names(text):
    return set(re.findall(r"typedef\s+enum\s+(\w+)", text))


def ctype_of(ctype_str, enums):
    """The ctypes type a C type string must be declared as."""
    s = ctype_str.replace("const ", "").replace("struct ", "").strip()
    stars = s.count("*")
    base = s.replace("*", "").strip()
    if base in enums:
        t = ctypes.c_int
    elif base in STRUCT_CLASSES:
        t = STRUCT_CLASSES[base]
    elif base in _SCALARS:
        t = _SCALARS[base]
    else:
        raise AssertionError("test does not know the C type %r" % ctype_str)
    if stars == 0:
        return t
    assert stars == 1, ctype_str
    if base == "char":
        return ctypes.c_char_p
    if base == "void":
        return ctypes.c_void_p
    return ctypes.POINTER(t)


def test_every_function_is_declared_once_and_matches():
    text = _header_text()
    enums = _enum_names(text)
    hdr = header_functions()
    assert len(hdr) >= 20, "header parse found too few functions"
    py = {}
    for decl, restype, argtypes in _lib.PROTOTYPES:
        name = _lib.prototype_name(decl)
        assert name not in py, "%s twice in PROTOTYPES" % name
        py[name] = (_norm_decl(decl), restype, argtypes)
    assert sorted(hdr) == sorted(py), "functions differ: only in header %s, only in Python %s" % (
        sorted(set(hdr) - set(py)), sorted(set(py) - set(hdr)))
    for name, (decl, ret, ptypes) in hdr.items():
        pdecl, restype, argtypes = py[name]
        assert pdecl == decl, "C declaration beside %s differs from the header:\n  %s\n  %s" % (name, pdecl, decl)
        assert restype is ctype_of(ret, enums), "%s returns %s, declared %s" % (name, ret, restype)
        assert len(argtypes) == len(ptypes), name
        for i, (c, p) in enumerate(zip(ptypes, argtypes)):
            assert p is ctype_of(c, enums), "%s parameter %d is %s, declared %s" % (name, i, c, p)


def header_structs():
    """{name: [(field, C type, array length or None)]}"""
    out = {}
    for m in re.finditer(r"typedef\s+struct\s+(\w+)\s*\{(.*?)\}\s*(\w+)\s*;", _header_text(), flags=re.S):
        name, body, alias = m.groups()
        assert name == alias
        fields = []
        for decl in body.split(";"):
            decl = " ".join(decl.split())
            if not decl:
                continue
            first = re.match(r"((?:const\s+)?\w+\s*\**)\s*(.*)", decl)
            ctype, rest = first.group(1), first.group(2)
            for d in rest.split(","):
                d = d.strip()
                ptr = d.startswith("*")
                d = d.lstrip("*").strip()
                am = re.match(r"(\w+)\s*(?:\[(\w+)\])?$", d)
                assert am, "cannot parse %r in %s" % (d, name)
                fields.append((am.group(1), ctype.strip() + (" *" if ptr else ""),
                               int(am.group(2)) if am.group(2) else None))
        out[name] = fields
    return out


def test_every_struct_mirrors_the_header():
    text = _header_text()
    enums = _enum_names(text)
    hdr = header_structs()
    assert sorted(hdr) == sorted(STRUCT_CLASSES), "structs differ: %s" % sorted(set(hdr) ^ set(STRUCT_CLASSES))
    for name, fields in hdr.items():
        cls = STRUCT_CLASSES[name]
        py = cls._fields_
        assert [f[0] for f in py] == [f[0] for f in fields], "%s: field names/order differ" % name
        for (fname, ctype, n), (_, ptype) in zip(fields, py):
            want = ctype_of(ctype, enums)
            if n is not None:
                assert issubclass(ptype, ctypes.Array) and ptype._length_ == n and ptype._type_ is want, \
                    "%s.%s: %s[%d] declared %s" % (name, fname, ctype, n, ptype)
            else:
                assert ptype is want, "%s.%s: %s declared %s" % (name, fname, ctype, ptype)
        if name != "vkattn_view":
            assert py[0][0] == "struct_size"


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_struct_sizes_and_offsets_match_the_c_compiler():
    hdr = header_structs()
    lines = ['#include <stdio.h>', '#include <stddef.h>', '#include "vkattn.h"', "int main(void) {"]
    for name, fields in hdr.items():
        lines.append('printf("%s %%zu\\n", sizeof(%s));' % (name, name))
        for fname, _, _ in fields:
            lines.append('printf("%s.%s %%zu\\n", offsetof(%s, %s));' % (name, fname, name, fname))
    lines.append("return 0; }")
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "layout.c")
        exe = os.path.join(d, "layout")
        with open(src, "w") as f:
            f.write("\n".join(lines))
        subprocess.run(["cc", "-std=c11", "-I", os.path.dirname(HEADER), src, "-o", exe], check=True)
        res = subprocess.run([exe], check=True, capture_output=True, text=True).stdout
    c = dict(line.split() for line in res.splitlines())
    for name, cls in STRUCT_CLASSES.items():
        assert int(c[name]) == ctypes.sizeof(cls), "sizeof(%s): C %s, ctypes %d" % (name, c[name], ctypes.sizeof(cls))
        for fname, _ in cls._fields_:
            assert int(c["%s.%s" % (name, fname)]) == getattr(cls, fname).offset, "offsetof(%s, %s)" % (name, fname)


def header_constants():
    text = _header_text()
    out = {}
    for m in re.finditer(r"enum\s*\w*\s*\{(.*?)\}", text, flags=re.S):
        for item in m.group(1).split(","):
            item = item.strip()
            if not item:
                continue
            name, value = (x.strip() for x in item.split("=", 1))
            value = re.sub(r"(\d+)u\b", r"\1", value)
            out[name] = int(eval(value, {"__builtins__": {}}))  # integer literals and << only
    for m in re.finditer(r"#define\s+(VKATTN_\w+)\s+(\d+)\s*$", text, flags=re.M):
        out[m.group(1)] = int(m.group(2))
    return out


def test_every_constant_matches():
    consts = header_constants()
    assert "VKATTN_ERROR_DEVICE_LOST" in consts and "VKATTN_ATTENTION_CAUSAL" in consts
    for name, value in consts.items():
        if name.startswith("VKATTN_VERSION_"):
            continue
        if name == "VKATTN_ABI_VERSION":
            assert _lib.ABI_VERSION == value, "the package expects ABI %d, the header says %d" % (_lib.ABI_VERSION,
                                                                                                  value)
            continue
        assert hasattr(_lib, name), "%s missing in vkattn/_lib.py" % name
        assert getattr(_lib, name) == value, "%s = %d in the header, %d in Python" % (name, value,
                                                                                      getattr(_lib, name))


def test_loaded_library_matches_header_version():
    consts = header_constants()
    want = (consts["VKATTN_VERSION_MAJOR"], consts["VKATTN_VERSION_MINOR"], consts["VKATTN_VERSION_PATCH"])
    assert vkattn.version() == want
    assert vkattn.abi_version() == consts["VKATTN_ABI_VERSION"]


def _import_in_subprocess(env_update):
    env = dict(os.environ)
    env.update(env_update)
    env["PYTHONPATH"] = os.path.join(REPO, "python_bridge")
    return subprocess.run([sys.executable, "-c", "import vkattn"], env=env, capture_output=True, text=True)


def test_missing_library_is_a_clear_import_error():
    res = _import_in_subprocess({"VKATTN_LIBRARY": "/nonexistent/libvkattn.so"})
    assert res.returncode != 0
    assert "LibraryError" in res.stderr and "/nonexistent/libvkattn.so" in res.stderr


def test_abi_mismatch_is_refused_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(_lib, "ABI_VERSION", _lib.ABI_VERSION + 41)
    monkeypatch.setenv("VKATTN_LIBRARY", vkattn.library_path)
    with pytest.raises(vkattn.LibraryError, match="ABI mismatch.*expects %d" % (_lib.ABI_VERSION)):
        _lib.load()


def test_loader_search_order(monkeypatch):
    monkeypatch.delenv("VKATTN_LIBRARY", raising=False)
    paths = _lib.candidate_paths()
    pkg = os.path.dirname(_lib.__file__)
    assert paths[0].startswith(pkg), "the package folder comes first"
    assert all(os.path.basename(os.path.dirname(p)).startswith("build") or p.startswith(pkg) or "build" in p
               for p in paths)
