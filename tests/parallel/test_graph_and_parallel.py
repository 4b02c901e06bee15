"""Data-parallel steps (several processes, --sync-bn) all-reduce on the host between
kernels, which a captured step cannot hold: --cuda-graph with them is refused in one line,
and the graph that cuda turns on by default is left off with a note."""
import io
from types import SimpleNamespace

import pytest

from p2p_cupy.errors import P2PError
from p2p_cupy.train.loop import Trainer
from p2p_cupy.train.options import InvalidOption, TrainOptions


def _use_graph(cuda_graph, processes=1, sync_bn=False, device="cuda", gan_mode="vanilla"):
    """Trainer._use_graph's answer and note for a backend named `device` (no GPU needed:
    the decision reads only the names, the world size and the options)."""
    out = io.StringIO()
    trainer = SimpleNamespace(bk=SimpleNamespace(name=device, uses_kernels=True),
                              world=SimpleNamespace(size=processes), writes=True, out=out,
                              opts=SimpleNamespace(cuda_graph=cuda_graph, sync_bn=sync_bn,
                                                   gan_mode=gan_mode))
    return Trainer._use_graph(trainer), out.getvalue()


def test_cuda_graph_with_sync_bn_is_an_invalid_option():
    with pytest.raises(InvalidOption, match=r"^--cuda-graph True: cannot be used with --sync-bn"):
        TrainOptions(cuda_graph=True, sync_bn=True)
    assert not TrainOptions(cuda_graph=None, sync_bn=True).cuda_graph


def test_cuda_graph_with_several_processes_is_refused_naming_the_count():
    with pytest.raises(P2PError, match=r"^--cuda-graph: cannot be used with 2 processes"):
        _use_graph(True, processes=2)


@pytest.mark.parametrize("processes,sync_bn", [(2, False), (1, True), (4, True)])
def test_the_default_graph_on_cuda_is_off_with_a_note_when_steps_all_reduce(processes, sync_bn):
    used, note = _use_graph(None, processes, sync_bn)
    assert used is False and note.startswith("note: CUDA graph off")


def test_the_default_graph_is_on_on_cuda_alone_and_off_on_emu():
    assert _use_graph(None) == (True, "")
    assert _use_graph(None, device="emu") == (False, "")
    assert _use_graph(False, processes=2) == (False, "")


def test_wgangp_steps_eagerly_and_refuses_cuda_graph():
    assert _use_graph(None, gan_mode="wgangp") == (False, "")
    with pytest.raises(InvalidOption,
                       match=r"^--cuda-graph True: cannot be used with --gan-mode wgangp"):
        TrainOptions(cuda_graph=True, gan_mode="wgangp")
