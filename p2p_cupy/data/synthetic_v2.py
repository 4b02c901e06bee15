"""Synthetic facades, version 2 (the default): one label map, many right renderings.

Layout (irregular): a facade of 2-5 upper floors of different heights over a ground floor;
2-6 window columns of different widths, windows of per-building proportions, some missing;
sills or balconies (per window or along a whole floor); cornice bands at some floors; on
the ground floor 0-3 shops of different widths and 1-2 doors.

Rendering (drawn per instance, so the label map does not determine it):
  facade    brick (per-brick shade, mortar), stone blocks or blotchy plaster, with a
            random scale, offset and color
  window    glass of a random tint with a vertical gradient and diagonal sky reflections,
            a frame of random color and width, sometimes a mullion cross
  door      painted or wooden, with planks; shop: tinted glass under a colored sign band
  cornice   stone moldings; sill: light stone; balcony: railing bars over a dark recess
  light     shadows under cornices, balconies and sills, a lighting gradient from a random
            direction, sky gradient with clouds, sensor noise and a slight lens blur
Every region stays recognizable by its context and texture (a segmenter reads the labels
back: the FCN scorer, p2p_cupy/quality), but its colors are not fixed: an L1 loss alone
can only predict their average.

Sizes are fractions of the image side, so the set looks the same at every resolution.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from p2p_cupy.data.synthetic import (BACKGROUND, BALCONY, CORNICE, DOOR, FACADE, SHOP, SILL,
                                     WINDOW)


def _box(y0, y1, x0, x1, h, w):
    """Integer (y0, y1, x0, x1) clipped to the image; None when empty."""
    b = (max(0, int(round(y0))), min(h, int(round(y1))), max(0, int(round(x0))),
         min(w, int(round(x1))))
    return b if b[0] < b[1] and b[2] < b[3] else None


def layout(s: int, rng):
    """(labels s x s uint8, boxes: {class: [(y0, y1, x0, x1), ...]}) of one facade."""
    labels = np.full((s, s), BACKGROUND, np.uint8)
    boxes = {c: [] for c in (WINDOW, DOOR, CORNICE, SILL, BALCONY, SHOP)}

    def put(cls, y0, y1, x0, x1):
        b = _box(y0, y1, x0, x1, s, s)
        if b is not None:
            labels[b[0]:b[1], b[2]:b[3]] = cls
            if cls in boxes:
                boxes[cls].append(b)

    left, right = rng.uniform(0, 0.1) * s, s - rng.uniform(0, 0.1) * s
    top = rng.uniform(0.02, 0.2) * s
    put(FACADE, top, s, left, right)
    roof = rng.uniform(0.015, 0.045) * s if rng.random() < 0.85 else 0.0
    if roof:
        put(CORNICE, top, top + roof, left - 0.015 * s, right + 0.015 * s)
    ground = rng.uniform(0.14, 0.26) * s
    width = right - left
    n_floors, n_cols = int(rng.integers(2, 6)), int(rng.integers(2, 7))
    floor_h = rng.uniform(0.75, 1.25, n_floors)
    floor_h *= (s - ground - top - roof) / floor_h.sum()
    col_w = rng.uniform(0.8, 1.2, n_cols)
    col_w *= width / col_w.sum()
    col_x = left + np.concatenate([[0], np.cumsum(col_w)[:-1]])
    win_w_frac = rng.uniform(0.35, 0.65) * rng.uniform(0.9, 1.1, n_cols)
    p_missing, sills, bands = rng.uniform(0, 0.2), rng.random() < 0.8, rng.random() < 0.4
    y = top + roof
    for f in range(n_floors):
        fh = floor_h[f]
        if bands and f > 0:
            put(CORNICE, y, y + rng.uniform(0.008, 0.02) * s, left, right)
        win_h = fh * rng.uniform(0.4, 0.7)
        wy0 = y + (fh - win_h) * rng.uniform(0.35, 0.6)
        wy1 = wy0 + win_h
        balcony = rng.random() < 0.25
        long_balcony = balcony and rng.random() < 0.3
        if long_balcony:
            put(BALCONY, wy1 - 0.3 * win_h, wy1 + 0.06 * fh, left + 0.02 * width,
                right - 0.02 * width)
        for c in range(n_cols):
            if rng.random() < p_missing:
                continue
            ww = col_w[c] * win_w_frac[c]
            wx0 = col_x[c] + (col_w[c] - ww) / 2
            put(WINDOW, wy0, wy1, wx0, wx0 + ww)
            if long_balcony:
                continue
            if balcony:
                pad = 0.12 * ww
                put(BALCONY, wy1 - 0.3 * win_h, wy1 + 0.06 * fh, wx0 - pad, wx0 + ww + pad)
            elif sills:
                put(SILL, wy1, wy1 + max(1.5, 0.012 * s), wx0 - 0.08 * ww, wx0 + ww * 1.08)
        y += fh
    gy0 = s - ground
    if rng.random() < 0.7:
        put(CORNICE, gy0 - rng.uniform(0.008, 0.02) * s, gy0, left, right)
    x = left + rng.uniform(0.02, 0.1) * width
    for _ in range(int(rng.integers(0, 4))):
        shop_w = rng.uniform(0.15, 0.45) * width
        if x + shop_w > right - 0.02 * width:
            break
        put(SHOP, gy0 + rng.uniform(0.1, 0.25) * ground, s - rng.uniform(0.05, 0.15) * ground,
            x, x + shop_w)
        x += shop_w + rng.uniform(0.03, 0.15) * width
    for _ in range(int(rng.integers(1, 3))):
        door_w = rng.uniform(0.06, 0.12) * s
        door_x = left + rng.uniform(0.05, 0.95) * (width - door_w)
        put(DOOR, s - rng.uniform(0.55, 0.85) * ground, s, door_x, door_x + door_w)
    return labels, boxes


def _jitter(rng, color, amount):
    return np.clip(np.asarray(color, np.float32) + rng.uniform(-amount, amount, 3), 0, 255)


def smooth_noise(rng, h, w, cells):
    """Low-frequency noise in about [-1, 1]: a random cells x cells grid, resized bicubic."""
    grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(grid, mode="F").resize((w, h), Image.BICUBIC))


# Facade palettes per material (base colors, jittered per building).
BRICK_COLORS = ((150, 65, 45), (175, 95, 65), (200, 165, 110), (120, 70, 55), (190, 120, 80))
STONE_COLORS = ((185, 175, 155), (150, 145, 140), (205, 190, 160), (120, 115, 110))
PLASTER_COLORS = ((225, 210, 180), (200, 215, 225), (230, 190, 160), (190, 200, 170),
                  (235, 235, 225), (210, 160, 150))


def facade_texture(rng, s, yy, xx):
    """(H x W x 3 colors, H x W brightness factor) of the wall material."""
    material = int(rng.integers(3))
    h, w = yy.shape[0], xx.shape[1]
    if material == 0:                                   # brick: running bond
        base = _jitter(rng, BRICK_COLORS[int(rng.integers(len(BRICK_COLORS)))], 20)
        bh = rng.uniform(0.018, 0.04) * s
        bw = bh * rng.uniform(1.8, 3.0)
        row = np.floor((yy + rng.uniform(0, bh)) / bh)
        u = (xx + rng.uniform(0, bw) + (row % 2) * bw / 2) / bw
        col = np.floor(u)
        fy, fx = (yy + 0.0) / bh - np.floor(yy / bh), u - col
        shade = rng.uniform(-0.12, 0.12, 257).astype(np.float32)
        factor = 1 + shade[((row * 73 + col * 151) % 257).astype(np.int64)]
        mortar_w = rng.uniform(0.12, 0.25)
        mortar = (fy < mortar_w) | (fx < mortar_w * bh / bw)
        colors = np.where(mortar[:, :, None], _jitter(rng, (200, 195, 185), 25), base)
        return colors, np.where(mortar, 1.0, factor).astype(np.float32)
    if material == 1:                                   # stone blocks
        base = _jitter(rng, STONE_COLORS[int(rng.integers(len(STONE_COLORS)))], 15)
        bh = rng.uniform(0.05, 0.09) * s
        bw = bh * rng.uniform(1.4, 2.5)
        row = np.floor(yy / bh)
        u = (xx + (row % 2) * bw * rng.uniform(0.3, 0.7)) / bw
        shade = rng.uniform(-0.07, 0.07, 257).astype(np.float32)
        factor = 1 + shade[((row * 73 + np.floor(u) * 151) % 257).astype(np.int64)]
        joint = (yy / bh - row < 0.06) | (u - np.floor(u) < 0.04)
        factor = np.where(joint, 0.8, factor) + 0.04 * smooth_noise(rng, h, w, 24)
        return np.broadcast_to(base, (h, w, 3)), factor.astype(np.float32)
    base = _jitter(rng, PLASTER_COLORS[int(rng.integers(len(PLASTER_COLORS)))], 20)
    factor = 1 + rng.uniform(0.03, 0.1) * smooth_noise(rng, h, w, int(rng.integers(4, 10)))
    return np.broadcast_to(base, (h, w, 3)), factor.astype(np.float32)


def _frame_mask(h, w, y0, y1, x0, x1, t, cross):
    """Boolean mask of a window frame (thickness t) and optional mullion cross."""
    m = np.zeros((y1 - y0, x1 - x0), bool)
    m[:t], m[-t:], m[:, :t], m[:, -t:] = True, True, True, True
    if cross:
        cy, cx = (y1 - y0) // 2, (x1 - x0) // 2
        m[max(0, cy - t // 2):cy + (t + 1) // 2] = True
        m[:, max(0, cx - t // 2):cx + (t + 1) // 2] = True
    return m


def render(labels, boxes, rng) -> np.ndarray:
    """A photo-like uint8 H x W x 3 rendering of a layout."""
    s = h = labels.shape[0]
    w = labels.shape[1]
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    img = np.empty((h, w, 3), np.float32)

    # Sky: a vertical gradient between two random blues/greys, with clouds.
    zenith, horizon = _jitter(rng, (90, 140, 210), 40), _jitter(rng, (200, 215, 230), 25)
    t = (yy / h)[:, :, None]
    sky = zenith * (1 - t) + horizon * t
    sky = sky + (rng.uniform(0, 40) * np.maximum(smooth_noise(rng, h, w, 5), 0))[:, :, None]
    colors, factor = facade_texture(rng, s, yy, xx)
    img[:] = np.where((labels == BACKGROUND)[:, :, None], sky, colors * factor[:, :, None])

    # Windows: tinted glass, darker at the top (recess), with diagonal sky reflections.
    glass = _jitter(rng, (50, 65, 90), 35)
    slope, period = rng.uniform(0.5, 2.0), rng.uniform(0.1, 0.3) * s
    reflect = np.clip(np.sin((xx + slope * yy) * (2 * np.pi / period) + rng.uniform(0, 6)),
                      0, 1) ** 3 * rng.uniform(20, 80)
    frame_color, frame_t = _jitter(rng, [(235, 235, 230), (90, 60, 40), (40, 40, 40),
                                         (120, 130, 120)][int(rng.integers(4))], 15), \
        max(1, int(round(rng.uniform(0.008, 0.02) * s)))
    cross = rng.random() < 0.5
    for y0, y1, x0, x1 in boxes[WINDOW]:
        v = np.linspace(0.6, 1.15, y1 - y0, dtype=np.float32)[:, None, None]
        pane = glass * v * rng.uniform(0.8, 1.2) + reflect[y0:y1, x0:x1, None]
        if rng.random() < 0.2:                                    # a lit or curtained window
            pane = pane * 0.5 + _jitter(rng, (200, 180, 140), 40) * 0.5
        if min(y1 - y0, x1 - x0) > 2 * frame_t + 1:
            m = _frame_mask(h, w, y0, y1, x0, x1, frame_t, cross)
            pane = np.where(m[:, :, None], frame_color, pane)
        img[y0:y1, x0:x1] = pane

    # Doors: paint or wood with planks; shops: tinted glass under a sign band.
    for y0, y1, x0, x1 in boxes[DOOR]:
        color = _jitter(rng, [(100, 60, 30), (40, 70, 50), (60, 40, 35), (30, 45, 80)][
            int(rng.integers(4))], 20)
        plank = max(2, int(round(rng.uniform(0.01, 0.025) * s)))
        planks = np.where((np.arange(x1 - x0) % plank) == 0, 0.75, 1.0).astype(np.float32)
        img[y0:y1, x0:x1] = color * planks[None, :, None]
    for y0, y1, x0, x1 in boxes[SHOP]:
        pane = _jitter(rng, (60, 80, 85), 40) + reflect[y0:y1, x0:x1, None]
        sign = max(1, int((y1 - y0) * rng.uniform(0.15, 0.3)))
        pane[:sign] = _jitter(rng, rng.uniform(0, 255, 3), 0)
        mullion = max(2, int((x1 - x0) / rng.integers(2, 5)))
        pane[sign:, ::mullion] = frame_color * 0.8
        img[y0:y1, x0:x1] = pane

    # Stone trim: cornices with moldings, sills; balconies: railing bars over a recess.
    stone = _jitter(rng, (200, 195, 185), 30)
    molding = 1 + 0.12 * np.sin(yy * (2 * np.pi / max(2.0, 0.01 * s)))[:, :, None]
    mask = (labels == CORNICE)[:, :, None]
    img[:] = np.where(mask, stone * molding, img)
    img[labels == SILL] = _jitter(rng, (235, 232, 225), 20)
    rail = _jitter(rng, [(30, 30, 32), (230, 230, 225), (90, 70, 50)][int(rng.integers(3))], 10)
    bar = max(2, int(round(rng.uniform(0.01, 0.025) * s)))
    bars = ((xx % bar) < max(1, bar // 2)) | (yy % max(4, 4 * bar) < 1)
    balcony = labels == BALCONY
    img[:] = np.where((balcony & bars)[:, :, None], rail, np.where(
        balcony[:, :, None], img * 0.35, img))

    # Shadows under what juts out (cornices, balconies, sills), fading over `depth` rows.
    caster = (labels == CORNICE) | balcony | (labels == SILL)
    depth = max(1, int(round(rng.uniform(0.01, 0.03) * s)))
    shadow = np.zeros((h, w), np.float32)
    for k in range(1, depth + 1):
        shadow[k:] = np.maximum(shadow[k:], caster[:-k] * (1 - (k - 1) / depth))
    shadow *= ~caster & (labels != BACKGROUND)
    img *= (1 - rng.uniform(0.2, 0.45) * shadow)[:, :, None]

    # Light from a random direction, overall exposure, sensor noise, a 3x3 lens blur.
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (xx / w - 0.5) + np.sin(angle) * (yy / h - 0.5))
    img *= (rng.uniform(0.85, 1.15) * (1 + rng.uniform(0, 0.35) * ramp))[:, :, None]
    img += (rng.random(img.shape, dtype=np.float32) - 0.5) * np.float32(
        rng.uniform(2, 7) * 12 ** 0.5)
    padded = np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")
    rows = padded[:, :-2] + padded[:, 1:-1] + padded[:, 2:]
    img = (rows[:-2] + rows[1:-1] + rows[2:]) / 9
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def facade_labels(size: int, rng) -> np.ndarray:
    """A size x size map of class indices (uint8), no rendering."""
    return layout(size, rng)[0]


def labels_and_photo(size: int, rng) -> tuple:
    """(class indices, uint8 rendering) of one pair."""
    labels, boxes = layout(size, rng)
    return labels, render(labels, boxes, rng)
