"""Looking inside: the model's cost and shapes (cost.py)."""
