"""Functional ops: forward(inputs) -> (outputs, cache); backward(grads, cache) -> grads."""
