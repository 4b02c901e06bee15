"""The `p2p` command line (installed as p2p_cupy.cli)."""
