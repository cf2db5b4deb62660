#!/usr/bin/env python3
"""Checkpoint weights as float16 .npz, the file a GPU run sends back (numpy's format reads the same
under PyTorch 2.x there and 1.13 here, which torch.save's pickles need not).

  python3 weights_npz.py pack OUT STAGE...   .cache/runs/STAGE/{best,checkpoint}.pt -> OUT/STAGE.npz
  python3 weights_npz.py unpack FILE.npz CHECKPOINT.pt   (float32 again; what export.py reads)
"""
import json
import os
import sys

import numpy as np
import torch


def pack(out, stages):
    for stage in stages:
        d = f".cache/runs/{stage}"
        path = f"{d}/best.pt" if os.path.exists(f"{d}/best.pt") else f"{d}/checkpoint.pt"
        if not os.path.exists(path):
            print("missing", path)
            continue
        ck = torch.load(path, map_location="cpu", weights_only=False)
        meta = {k: v for k, v in ck.items() if k not in ("optimizer", "rng", "model")}
        meta["source"] = os.path.basename(path)
        arrays = {k: (v.half() if v.is_floating_point() else v).numpy() for k, v in ck["model"].items()}
        np.savez(f"{out}/{stage}.npz", __meta__=np.array(json.dumps(meta)), **arrays)
        print(stage, path, meta["step"], meta["tokens_seen"], meta.get("val_loss"), os.path.getsize(f"{out}/{stage}.npz"))


def unpack(npz, checkpoint):
    z = np.load(npz)
    ck = json.loads(str(z["__meta__"]))
    ck["model"] = {k: torch.from_numpy(z[k].astype(np.float32) if z[k].dtype == np.float16 else z[k])
                   for k in z.files if k != "__meta__"}
    torch.save(ck, checkpoint)


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "pack":
        pack(sys.argv[2], sys.argv[3:])
    elif len(sys.argv) == 4 and sys.argv[1] == "unpack":
        unpack(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
