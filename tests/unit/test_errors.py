"""The OSError -> treeframe error mapping every layer shares."""

from __future__ import annotations

import errno

from treeframe.errors import (
    InvalidRequest,
    ScanError,
    from_os_error,
    os_error_reason,
)


def test_os_error_reason_is_the_lowercased_strerror():
    assert os_error_reason(PermissionError(errno.EACCES, "Permission denied")) == (
        "permission denied"
    )
    assert os_error_reason(OSError(errno.EIO, "")) == "EIO"
    assert os_error_reason(OSError("bare")) == "bare"


def test_from_os_error_builds_the_requested_class_with_one_message():
    exc = FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/y")
    error = from_os_error(exc, "cannot read /x/y", InvalidRequest)
    assert type(error) is InvalidRequest
    assert error.code == "invalid_request"
    assert error.message == "cannot read /x/y: no such file or directory"
    scan = from_os_error(
        PermissionError(errno.EACCES, "Permission denied"), "cannot read a", ScanError
    )
    assert (scan.code, scan.message) == ("scan_failed", "cannot read a: permission denied")
