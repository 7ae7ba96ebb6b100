from monitor.cli import main

# Guarded: parse worker processes (spawn) import this module as ``__mp_main__``.
if __name__ == "__main__":
    raise SystemExit(main())
