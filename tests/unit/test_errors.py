"""The error hierarchy (codes, HTTP statuses) and the OSError mapping every layer shares."""

from __future__ import annotations

import errno

import pytest

import treeframe.errors as errors
from treeframe.errors import (
    AccessDenied,
    BackendUnavailable,
    ConcurrentUpdate,
    Conflict,
    InvalidRequest,
    ScanError,
    StorageError,
    StoreLocked,
    TreeframeError,
    Unauthorized,
    VersionNotSupported,
    from_os_error,
    os_error_reason,
)

CLASSES = [
    cls
    for cls in vars(errors).values()
    if isinstance(cls, type) and issubclass(cls, TreeframeError)
]


def test_every_class_has_its_own_code_and_an_http_status():
    codes = [cls.code for cls in CLASSES]
    assert len(codes) == len(set(codes))
    for cls in CLASSES:
        assert "code" in vars(cls), cls  # never inherited: one code names one class
        assert isinstance(cls.http_status, int)
        assert 400 <= cls.http_status <= 599, cls


@pytest.mark.parametrize(
    ("cls", "code", "status"),
    [
        (TreeframeError, "internal_error", 500),
        (InvalidRequest, "invalid_request", 400),
        (Unauthorized, "unauthorized", 401),
        (AccessDenied, "access_denied", 403),
        (errors.NotFound, "not_found", 404),
        (Conflict, "conflict", 409),
        (ConcurrentUpdate, "concurrent_update", 409),
        (errors.WorkspaceDeleted, "workspace_deleted", 409),
        (VersionNotSupported, "version_not_supported", 400),
        (StorageError, "storage_error", 500),
        (StoreLocked, "store_locked", 503),
        (BackendUnavailable, "backend_unavailable", 503),
        (errors.JobNotFound, "job_not_found", 404),
        (errors.JobInterrupted, "job_interrupted", 500),
        (errors.RateLimited, "rate_limited", 429),
        (errors.QueueFull, "queue_full", 429),
        (errors.ServerBusy, "server_busy", 503),
        (errors.ProviderError, "provider_failed", 502),
        (errors.ProviderRateLimited, "provider_rate_limited", 503),
        (errors.ProviderAuthFailed, "provider_auth_failed", 502),
        (errors.ProviderUnavailable, "provider_unavailable", 503),
        (errors.ProviderRequestInvalid, "provider_request_invalid", 502),
        (errors.ProviderResponseInvalid, "provider_response_invalid", 502),
    ],
)
def test_codes_and_statuses_the_api_maps(cls: type[TreeframeError], code: str, status: int):
    assert (cls.code, cls.http_status) == (code, status)


def test_every_subclass_keeps_the_status_family_of_its_parent_or_says_why():
    """A subclass that changes its parent's status is one of these, on purpose."""
    changed = {
        cls.__name__
        for cls in CLASSES
        for parent in cls.__mro__[1:2]
        if issubclass(parent, TreeframeError) and parent.http_status != cls.http_status
    }
    assert changed == {
        "InvalidRequest",  # the base is 500; each family below it sets its own
        "NotFound",
        "Unauthorized",
        "AccessDenied",
        "RateLimited",  # too many requests: wait Retry-After, then retry (429)
        "ServerBusy",  # this process is at its in-flight limit: retry (503)
        "Conflict",
        "SynthesisFailed",
        "RegenerationFailed",
        "FileChangedDuringScan",  # the file moved on: retry the scan (409)
        "EntrySkipped",  # strict mode refused an entry the data has (422)
        "SchemaValidationFailed",  # well-formed HTTP whose content breaks the schema (422)
        "PayloadTooLarge",  # a body over the server's limit (413)
        "MethodNotAllowed",  # the route has no such method (405)
        "PreconditionFailed",  # a lost race the client named with If-Match (412)
        "StoreLocked",
        "BackendUnavailable",
        "RecordMismatch",  # a pushed record is wrong, not the store (422)
        "IncompleteTree",  # a push names nodes not stored yet (422)
        "SnapshotInvalid",  # a well-formed request whose archive fails verification (422)
        "ProviderError",  # the model behind the request failed, not treeframe (502)
        "ProviderRateLimited",  # the provider's limit: retry after retry_after (503)
        "ProviderUnavailable",  # the provider is down or slow: retry after retry_after (503)
    }


def test_a_lost_race_is_a_conflict_not_a_storage_error():
    race = ConcurrentUpdate("head moved", expected="a" * 64, actual="b" * 64)
    assert isinstance(race, Conflict)
    assert not isinstance(race, StorageError)
    assert (race.code, race.http_status, race.expected, race.actual) == (
        "concurrent_update",
        409,
        "a" * 64,
        "b" * 64,
    )


def test_who_are_you_and_you_may_not_are_distinct():
    assert not issubclass(AccessDenied, Unauthorized)
    assert not issubclass(Unauthorized, AccessDenied)
    assert (Unauthorized.http_status, AccessDenied.http_status) == (401, 403)


def test_version_not_supported_carries_the_supported_versions():
    error = VersionNotSupported("store schema 9 is newer than this treeframe", supported=("4", "5"))
    assert error.supported == ("4", "5")
    assert error.message == "store schema 9 is newer than this treeframe"
    assert VersionNotSupported("x").supported == ()


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


def test_provider_errors_name_the_provider_and_say_when_to_retry():
    limited = errors.ProviderRateLimited("slow down", provider="openai", retry_after=7.5)
    assert (limited.provider, limited.retry_after, limited.message) == ("openai", 7.5, "slow down")
    down = errors.ProviderUnavailable("down", provider="local")
    assert (down.provider, down.retry_after) == ("local", 1.0)
    for cls in (
        errors.ProviderRateLimited,
        errors.ProviderAuthFailed,
        errors.ProviderUnavailable,
        errors.ProviderRequestInvalid,
        errors.ProviderResponseInvalid,
    ):
        assert issubclass(cls, errors.ProviderError)
    assert errors.ProviderAuthFailed("no", provider="x").provider == "x"
