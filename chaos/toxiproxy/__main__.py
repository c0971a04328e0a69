"""``python -m chaos.toxiproxy [--host H] [--port P]``: the server standalone."""

from chaos.cli import main

if __name__ == "__main__":
    import sys

    raise SystemExit(main(["toxiproxy", *sys.argv[1:]]))
