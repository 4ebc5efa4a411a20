"""`python -m dcgan ...` runs the command-line interface (and is what torchrun launches)."""

from .cli import main


if __name__ == "__main__":
    raise SystemExit(main())
