"""`p2p bench infer`: the generator's forward pass in eval mode (what `p2p translate`
runs), at batch 1 and 16 by default, ours and optionally PyTorch's, interleaved."""
from __future__ import annotations

from p2p_cupy import backend
from p2p_cupy.bench import machine, timing
from p2p_cupy.bench.step import build_ours, num_downs_for, random_pair


def bench_infer(device="cpu", batch_sizes=(1, 16), size=256, iters=5, warmup=1,
                compare=None, seed=0) -> dict:
    with backend.using(device) as bk:
        torch = reference = None
        if compare == "torch":
            from p2p_cupy.bench.torch_ref import load_reference, torch_device, torch_sync
            torch, reference = load_reference()
            t_dev = torch_device(torch, bk.name)
            tG = reference.build(seed=seed, device=t_dev, num_downs=num_downs_for(size))[0]
            tG.eval()
        G = build_ours(size, seed)[0]
        G.eval()
        rows = []
        for batch_size in batch_sizes:
            host_A, _ = random_pair(batch_size, size, seed)
            real_A = bk.asarray(host_A)
            candidates = {"ours": lambda: G.forward(real_A)}
            syncs = {"ours": bk.synchronize}
            if torch is not None:
                t_A = torch.from_numpy(host_A).to(t_dev)

                def torch_forward():
                    with torch.no_grad():
                        tG(t_A)
                candidates["torch"] = torch_forward
                syncs["torch"] = lambda: torch_sync(torch, t_dev)
            times = timing.interleaved(candidates, warmup, iters,
                                       sync=lambda name: syncs[name]())
            row = {"batch_size": batch_size}
            for name, seconds in times.items():
                stats = timing.summary(seconds)
                row[name] = {**stats, "images_per_s": batch_size * 1e3 / stats["median_ms"]}
            if torch is not None:
                row["ratio"] = row["ours"]["median_ms"] / row["torch"]["median_ms"]
            rows.append(row)
        return {"kind": "infer", "device": bk.name,
                "config": {"size": size, "iters": iters, "warmup": warmup, "compare": compare},
                "machine": machine.info(bk, torch), "rows": rows}
