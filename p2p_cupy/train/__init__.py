"""Training pix2pix: the options of a run (options.py), what it trains with (build.py: G, D,
the Adams, the schedule, the data), one iteration (step.py), the loop with its stops,
checkpoints and observer (loop.py, checkpoint.py), starting or resuming it (run.py), and
what it leaves to look at (report.py, progress.py)."""
