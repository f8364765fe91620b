"""One codec instance is shared by a server's worker threads: it must be safe to use concurrently.

zstandard's compressor objects are not thread-safe; a shared one crashed a
``treeframe serve`` process (segfault) under concurrent puts. A crash here
kills the test run, which fails it as surely as an assertion.
"""

from __future__ import annotations

import threading

import pytest

from treeframe.storage.codecs import CODEC_NAMES, codec

THREADS = 4
ROUNDS = 300


@pytest.mark.parametrize("name", CODEC_NAMES)
def test_one_codec_instance_round_trips_from_many_threads(name: str) -> None:
    packer = codec(name)
    datas = [bytes([i]) * 64 + b"payload %d " % i * 400 for i in range(THREADS)]
    failures: list[BaseException] = []

    def work(data: bytes) -> None:
        try:
            for _ in range(ROUNDS):
                assert packer.decompress(packer.compress(data)) == data
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(d,)) for d in datas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert failures == []
