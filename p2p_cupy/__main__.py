"""`python -m p2p_cupy ...` is the `p2p` command."""
from p2p_cupy.cli.main import main

if __name__ == "__main__":
    main()
