"""Functional ops, each a forward/backward pair with the math of its backward written out
(docs/DESIGN.md, "The op contract"):

    y, cache = <op>_forward(x, ...)            cache: what the backward needs
    grads    = <op>_backward(dy, cache, ...)   new arrays; neither dy nor cache changes

Losses reduce to a scalar, so their backward takes the cache first and the upstream
gradient as a plain scale:

    loss, cache = <loss>_forward(pred, target)      loss: a 0-d array, not read to the host
    dpred       = <loss>_backward(cache, dloss=1.0)

Every op takes its backend from its input (backend.of): NumPy code on numpy, our CUDA
kernels on cuda and emu.
"""
