import numpy as np

from p2p_cupy.data.edges import component_sizes, edge_map


def test_component_sizes_use_eight_neighbours():
    m = np.zeros((8, 8), bool)
    m[1, 1:5] = True                    # a 4-pixel line
    m[4, 4] = m[5, 5] = m[6, 6] = True  # a diagonal: 8-connected, 3 pixels
    m[6, 1] = True
    sizes = component_sizes(m)
    assert sizes[1, 1:5].tolist() == [4] * 4 and sizes[5, 5] == 3 and sizes[6, 1] == 1
    assert sizes[~m].max() == 0


def test_a_square_gives_one_thin_closed_outline_without_speckle():
    img = np.zeros((64, 64))
    img[16:48, 16:48] = 255
    rng = np.random.default_rng(0)
    img[rng.integers(0, 64, 12), rng.integers(0, 64, 12)] += 40       # isolated specks
    lines = edge_map(img)
    assert lines[32, 10:22].sum() == 1 and lines[32, 42:54].sum() == 1  # one pixel thin
    assert lines[10:22, 32].sum() == 1
    assert lines[:12].sum() == 0 and lines[52:].sum() == 0            # specks removed
    assert (component_sizes(lines)[lines] == lines.sum()).all()        # one outline


def test_a_flat_image_has_no_edges():
    assert not edge_map(np.full((16, 16), 7.0)).any()
