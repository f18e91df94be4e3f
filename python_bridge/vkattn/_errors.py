"""Exceptions: one class per vkattn_status kind, each carrying the status and
vkattn's own message (vkattn_last_error())."""

from . import _lib


class VkattnError(RuntimeError):
    """A vkattn call failed. `status` is the vkattn_status number, `status_name`
    its name, `message` what vkattn said (it names the offending argument)."""

    def __init__(self, status, message):
        self.status = int(status)
        self.status_name = _lib.status_string(self.status).split(":", 1)[0]
        self.message = message
        super().__init__("%s (%d): %s" % (self.status_name, self.status, message))

    def __reduce__(self):
        # Errors cross process boundaries (multiprocessing sends a worker's
        # exception to the parent): rebuild with status and message, whatever
        # the subclass's own __init__ takes.
        return (_rebuild_error, (type(self), self.status, self.message))


def _rebuild_error(cls, status, message):
    err = cls.__new__(cls)
    VkattnError.__init__(err, status, message)
    return err


class InvalidArgumentError(VkattnError, ValueError):
    """100-199: the caller passed something wrong; nothing was written."""


class InvalidShapeError(InvalidArgumentError):
    pass


class InvalidDtypeError(InvalidArgumentError, TypeError):
    pass


class ShapeMismatchError(InvalidArgumentError):
    pass


class UnsupportedError(VkattnError):
    """200-299: valid, but not supported here (no Vulkan, no device, ...)."""


class NoVulkanError(UnsupportedError):
    pass


class NoDeviceError(UnsupportedError):
    pass


class FeatureMissingError(UnsupportedError):
    pass


class OutOfMemoryError(VkattnError, MemoryError):
    """300-399: out of device (or host) memory; the context stays usable."""


class VulkanError(VkattnError):
    """400-499: a Vulkan call or shader interface failed."""


class DeviceLostError(VkattnError):
    """500-599: the device is gone; close the context."""


class InternalError(VkattnError):
    """900: a bug in vkattn."""


class NotSupportedByVkattn(VkattnError, NotImplementedError):
    """A request vkattn does not implement (dropout); nothing was computed."""

    def __init__(self, message):
        super().__init__(_lib.VKATTN_ERROR_UNSUPPORTED, message)


_EXACT = {
    _lib.VKATTN_ERROR_INVALID_SHAPE: InvalidShapeError,
    _lib.VKATTN_ERROR_INVALID_DTYPE: InvalidDtypeError,
    _lib.VKATTN_ERROR_SHAPE_MISMATCH: ShapeMismatchError,
    _lib.VKATTN_ERROR_NO_VULKAN: NoVulkanError,
    _lib.VKATTN_ERROR_NO_DEVICE: NoDeviceError,
    _lib.VKATTN_ERROR_FEATURE_MISSING: FeatureMissingError,
}


def error_class(status):
    if status in _EXACT:
        return _EXACT[status]
    if 100 <= status < 200:
        return InvalidArgumentError
    if 200 <= status < 300:
        return UnsupportedError
    if 300 <= status < 400:
        return OutOfMemoryError
    if 400 <= status < 500:
        return VulkanError
    if 500 <= status < 600:
        return DeviceLostError
    if status == _lib.VKATTN_ERROR_INTERNAL:
        return InternalError
    return VkattnError


def make_error(status, message):
    return error_class(status)(status, message)


def check(status, what=""):
    """Raise the matching VkattnError for a failed status, with vkattn's
    message read at once (it is thread-local and valid until the next call)."""
    if status != _lib.VKATTN_SUCCESS:
        msg = _lib.last_error()
        if what:
            msg = "%s: %s" % (what, msg) if msg else what
        raise make_error(status, msg)
