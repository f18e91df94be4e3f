"""vkattn's dtypes: the one table the Python package reads them from.

Each row joins a vkattn_dtype code (from _lib, the mirror of vkattn.h) to
its names, its element size and the numpy and torch dtypes that hold it.
Every other module asks this one (code_from, numpy_dtype, torch_dtype, name,
size, FLOAT_CODES) instead of spelling out a mapping of its own; a dtype
added to vkattn.h is added here, once.

bfloat16 has no numpy dtype of its own: vkattn.Tensor moves it as uint16 bit
patterns (numpy_dtype(BF16) is uint16), and a numpy array of ml_dtypes'
bfloat16 is recognized by its dtype name.
"""

import collections

from . import _lib
from ._errors import InvalidDtypeError

DType = collections.namedtuple("DType", "code name long_name size numpy torch is_float")
DType.__doc__ = """One vkattn dtype: code (vkattn_dtype), name ("f32"), long_name
("float32", numpy's and torch's name), size (bytes per element), numpy (the
numpy dtype name that holds it), torch (the torch dtype name), is_float."""

TABLE = (
    DType(_lib.VKATTN_DTYPE_F32, "f32", "float32", 4, "float32", "float32", True),
    DType(_lib.VKATTN_DTYPE_F16, "f16", "float16", 2, "float16", "float16", True),
    DType(_lib.VKATTN_DTYPE_BF16, "bf16", "bfloat16", 2, "uint16", "bfloat16", True),
    DType(_lib.VKATTN_DTYPE_BOOL, "bool", "bool", 1, "bool", "bool", False),
)

F32 = _lib.VKATTN_DTYPE_F32
F16 = _lib.VKATTN_DTYPE_F16
BF16 = _lib.VKATTN_DTYPE_BF16
BOOL = _lib.VKATTN_DTYPE_BOOL

# What code_from() gives for a dtype vkattn does not have: a number that the
# library rejects (VKATTN_ERROR_INVALID_DTYPE, naming it) and that no check
# here mistakes for a dtype.
UNKNOWN = _lib.VKATTN_DTYPE_COUNT_ + 100

# The dtypes attention computes in (q, k, v and out).
FLOAT_CODES = frozenset(d.code for d in TABLE if d.is_float)

_BY_CODE = {d.code: d for d in TABLE}
_BY_NAME = {}
for _d in TABLE:
    _BY_NAME[_d.name] = _d.code
    _BY_NAME[_d.long_name] = _d.code
del _d


def code_from(dtype):
    """The vkattn_dtype code of an int (returned as is: vkattn checks it), a
    name ("f32", "float32", "torch.float32"), a numpy dtype (or anything
    numpy.dtype() takes) or a torch dtype. A dtype vkattn does not have gives
    UNKNOWN, which the library rejects naming it."""
    if isinstance(dtype, int):
        return dtype
    name = str(dtype)
    if name.startswith("torch."):
        name = name[len("torch."):]
    elif not isinstance(dtype, str):
        import numpy as np
        name = np.dtype(dtype).name
    return _BY_NAME.get(name, UNKNOWN)


def info(code):
    """The table row (a DType) of a code; InvalidDtypeError for another number."""
    try:
        return _BY_CODE[code]
    except (KeyError, TypeError):
        raise InvalidDtypeError(_lib.VKATTN_ERROR_INVALID_DTYPE,
                                "%r is not a vkattn dtype (%s)" % (code, long_names(_BY_CODE))) from None


def name(code):
    """The short name of a code: "f32", "f16", "bf16", "bool"."""
    return info(code).name


def size(code):
    """Bytes per element (vkattn_dtype_size)."""
    return info(code).size


def numpy_dtype(code):
    """The numpy dtype that holds a code's elements (uint16 bit patterns for bf16)."""
    import numpy as np
    return np.dtype(info(code).numpy)


def torch_dtype(code):
    """The torch dtype of a code (torch is imported)."""
    import torch
    return getattr(torch, info(code).torch)


def long_names(codes):
    """"float32, float16, ..." for messages, in code order."""
    return ", ".join(_BY_CODE[c].long_name for c in sorted(codes))
