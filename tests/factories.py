"""Small builders for records and frames used across the test suites (shipped in treeframe.testing)."""

from treeframe.testing.factories import (
    CREATED_AT,
    make_dir,
    make_file,
    make_frame,
    make_ws,
    workspace_info,
)

__all__ = ["CREATED_AT", "make_dir", "make_file", "make_frame", "make_ws", "workspace_info"]
