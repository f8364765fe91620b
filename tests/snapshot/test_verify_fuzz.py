"""A mutation fuzz of the verifier over real archives: it never raises, never hangs, never passes damage."""

from __future__ import annotations

import io
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.snapshot.archives import archive, entries, pack, sample, tiny, unbound_offsets
from treeframe.snapshot.verify import VerifyReport, verify_archive

FUZZ = settings(
    max_examples=150,
    deadline=5000,  # milliseconds per example: a hang fails it
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)


@cache
def corpus() -> tuple[bytes, ...]:
    """Valid archives of each kind: tiny and sample, whole and subtree, each compression."""
    return (
        archive(tiny()),
        archive(),
        archive(sample(subtree="src/lib")),
        archive(tiny(), compression="zstd"),
        archive(compression="zstd"),
        archive(tiny(), compression="gzip"),
        archive(sample(subtree="docs"), compression="gzip"),
        pack(entries(sample())[:-1]),  # already damaged: a content missing
    )


def check(data: bytes) -> VerifyReport:
    """Verify ``data``: any exception fails the test; the report must be well-formed."""
    report = verify_archive(io.BytesIO(data))
    structural = [p for p in report.problems if p.code == "structure"]
    assert len(structural) <= 1
    if structural:
        assert report.problems[-1] is structural[0]
    report.to_dict()
    return report


@st.composite
def mutated(draw: st.DrawFn) -> tuple[bytes, bytes]:
    """(original, mutation): flips, truncations, insertions, deletions and splices."""
    items = corpus()
    original = draw(st.sampled_from(items))
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "splice", "zero"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 600))]
        elif kind == "zero":
            data[at : at + 512] = bytes(len(data[at : at + 512]))
        else:
            other = draw(st.sampled_from(items))
            data = data[:at] + bytearray(other[draw(st.integers(0, len(other))) :])
    return original, bytes(data)


@FUZZ
@given(mutated())
def test_a_mutated_archive_never_raises(case: tuple[bytes, bytes]) -> None:
    original, data = case
    report = check(data)
    if data != original and report.ok:
        # Only a change that leaves the tar stream's meaning intact may pass:
        # re-verifying must agree, and the original must have been valid.
        assert check(original).ok


@FUZZ
@given(st.binary(max_size=4096))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    assert not check(data).ok


@FUZZ
@given(st.sampled_from(range(len(corpus()))), st.data())
def test_a_flip_in_an_uncompressed_archive_is_found(index: int, data: st.DataObject) -> None:
    original = corpus()[index]
    if original[:4] in (b"\x28\xb5\x2f\xfd",) or original[:2] == b"\x1f\x8b":
        return  # compressed: see test_verify's compressed every-byte test
    at = data.draw(st.integers(0, len(original) - 1))
    changed = bytearray(original)
    changed[at] ^= data.draw(st.integers(1, 255))
    report = check(bytes(changed))
    if at in unbound_offsets(original):
        return  # the manifest's unbound metadata may change unnoticed in an unsigned archive
    assert not report.ok, at
