# Generates tests/NativeCnn.Tests/Goldens/onecycle.json: the learning rate and momentum that
# torch.optim.lr_scheduler.OneCycleLR (PyTorch 1.13; pct_start 0.3, div_factor 25,
# final_div_factor 1e4, anneal 'cos', base_momentum 0.85, max_momentum 0.95, three_phase False) gives
# at every step, for several step counts and peak learning rates (two groups with their own peaks).
# Run with Debian's python3-torch: /usr/bin/python3 tests/goldens/make_onecycle_golden.py
# The values are written with Python's repr (shortest round-trip), so the doubles are exact.
import json
import os

import torch

CASES = [(10, [0.01]), (97, [0.003, 0.1]), (1000, [1.0]), (1000, [0.05, 2e-4]), (7, [0.3])]


def run(total, max_lrs):
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in max_lrs]
    opt = torch.optim.SGD([{"params": [p]} for p in params], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=max_lrs, total_steps=total, pct_start=0.3, anneal_strategy="cos",
        cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=25.0,
        final_div_factor=1e4, three_phase=False)
    lrs = [[] for _ in max_lrs]
    moms = []
    for step in range(total):
        for i, g in enumerate(opt.param_groups):
            lrs[i].append(g["lr"])
        moms.append(opt.param_groups[0]["momentum"])
        opt.step()
        if step < total - 1:
            sched.step()
    return {"total_steps": total, "max_lr": max_lrs, "pct_start": 0.3, "div_factor": 25.0,
            "final_div_factor": 1e4, "base_momentum": 0.85, "max_momentum": 0.95, "lr": lrs, "momentum": moms}


out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "NativeCnn.Tests", "Goldens", "onecycle.json")
with open(out, "w") as f:
    json.dump({"torch": torch.__version__, "cases": [run(t, m) for t, m in CASES]}, f)
print("wrote", os.path.normpath(out))
