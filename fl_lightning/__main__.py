"""`python -m fl_lightning` is the same as the `fl-lightning` command."""

from fl_lightning.cli import main

if __name__ == "__main__":
    main()
