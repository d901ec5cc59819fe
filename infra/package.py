"""Build the functions' source archive as terraform does, and prove it stands alone.

The archive holds main.py, functions/, shared/, requirements.txt and the policy as
policy.yaml (infra/main.tf, data.archive_file.source). This installs requirements.txt
alone into a fresh virtual environment, unpacks the archive beside it and imports every
entry point: a module the functions need but only the dev tools bring in fails here, not
in production. Usage: python infra/package.py [OUT.zip] [--policy FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import venv
import zipfile
from pathlib import Path

from shared import dev

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".py", ".yaml", ".json", ".jsonl", ".html", ".css"}


def source_files() -> list[Path]:
    """The files terraform's fileset patterns select, in a stable order."""
    files = [ROOT / "main.py", ROOT / "requirements.txt"]
    files += sorted((ROOT / "functions").rglob("*.py"))
    files += sorted(p for p in (ROOT / "shared").rglob("*") if p.suffix in SUFFIXES)
    return [p for p in files if "__pycache__" not in p.parts]


def build(out: Path, policy: Path) -> str:
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in source_files():
            archive.write(path, path.relative_to(ROOT).as_posix())
        archive.write(policy, "policy.yaml")
    return hashlib.sha256(out.read_bytes()).hexdigest()


def check(archive: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="taops-package-") as tmp:
        env_dir, src = Path(tmp) / "venv", Path(tmp) / "workspace"
        venv.create(env_dir, with_pip=True)
        python = env_dir / "bin" / "python"
        subprocess.run(
            [python, "-m", "pip", "install", "--quiet", "-r", ROOT / "requirements.txt"], check=True
        )
        with zipfile.ZipFile(archive) as unpacked:
            unpacked.extractall(src)
        probe = (
            "import importlib, main\n"
            f"for name in {[*dev.HTTP, dev.DASHBOARD, *dev.PUSH.values()]!r}:\n"
            "    getattr(main, name)\n"
            "for module in ('functions.deel', 'functions.salesforce', 'functions.vitally', "
            "'functions.consumers', 'functions.gmail', 'functions.ticks', 'functions.delivery', "
            "'functions.dashboard'):\n"
            "    importlib.import_module(module)\n"
            "from shared.policy import load_policy\n"
            "load_policy('policy.yaml')\n"
            "print('every entry point imports from the archive with requirements.txt alone')\n"
        )
        # Only the archive on the path and a bare environment, as on Cloud Functions.
        subprocess.run([python, "-s", "-c", probe], cwd=src, check=True, env={"PYTHONPATH": str(src)})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", default=str(ROOT / "dist" / "taops-source.zip"))
    parser.add_argument("--policy", default=str(ROOT / "shared" / "default_policy.yaml"))
    args = parser.parse_args()
    out = Path(args.out)
    digest = build(out, Path(args.policy))
    print(f"{out}: sha256 {digest}")
    check(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
