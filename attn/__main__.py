"""`python -m attn` runs the same command line as `attn`."""

from attn.cli import main

if __name__ == "__main__":
    main()
