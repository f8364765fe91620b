"""keygen: make an ed25519 key pair for signing snapshot archives (``export --sign``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from treeframe.cli.common import JsonOpt
from treeframe.cli.output import console, print_json
from treeframe.snapshot.signing import generate_key

__all__ = ["register"]


def keygen(
    keyfile: Annotated[
        Path,
        typer.Argument(help="Where to write the private key (KEYFILE.pub gets the public key)."),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace existing key files (the old key is lost).")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Make an ed25519 key pair: KEYFILE (PEM, mode 0600) and KEYFILE.pub (64 hex)."""
    public = generate_key(keyfile, force=force)
    pub_path = keyfile.with_name(keyfile.name + ".pub")
    if json_out:
        print_json(
            {
                "private_key_file": str(keyfile),
                "public_key": public,
                "public_key_file": str(pub_path),
            }
        )
        return
    console.print(
        f"private key {keyfile} (keep it secret; sign with: treeframe export --sign {keyfile})"
    )
    console.print(f"public key  {pub_path}: {public}")
    console.print(f"verify with: treeframe verify-export ARCHIVE --trust {pub_path}")


def register(app: typer.Typer) -> None:
    """Attach this group's commands to the app."""
    app.command("keygen")(keygen)
