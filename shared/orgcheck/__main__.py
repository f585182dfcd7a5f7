"""``python -m orgcheck`` (``make check-org ARGS=...``)."""

from .cli import main

if __name__ == "__main__":
    main()
