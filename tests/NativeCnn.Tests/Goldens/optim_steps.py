# Generates optim_steps.json: 5 steps of torch.optim.SGD / Adam / AdamW (PyTorch 1.13, foreach=False)
# on one 37-element parameter (a length with a SIMD tail), for OptimStepTests.
# Run from this folder with Debian's torch: /usr/bin/python3 optim_steps.py
import json
import torch

torch.manual_seed(0)
n, steps = 37, 5
param0 = torch.randn(n)
grads = [torch.randn(n) for _ in range(steps)]

cases = [
    ("sgd", dict(lr=0.1)),
    ("sgd", dict(lr=0.1, momentum=0.9)),
    ("sgd", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    ("sgd", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=5e-4)),
    ("adam", dict(lr=1e-2)),
    ("adam", dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("adamw", dict(lr=1e-2, weight_decay=0.1)),
    ("adamw", dict(lr=3e-3, betas=(0.95, 0.9), weight_decay=0.5)),
]
out = {"param": param0.tolist(), "grads": [g.tolist() for g in grads], "cases": []}
for kind, kw in cases:
    p = param0.clone().requires_grad_(True)
    opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[kind]([p], foreach=False, **kw)
    for g in grads:
        p.grad = g.clone()
        opt.step()
    full = dict(opt.param_groups[0])
    full.pop("params")
    out["cases"].append({"kind": kind, "lr": full["lr"], "momentum": full.get("momentum", 0.0),
                         "dampening": full.get("dampening", 0.0), "nesterov": full.get("nesterov", False),
                         "beta1": full.get("betas", (0.9, 0.999))[0], "beta2": full.get("betas", (0.9, 0.999))[1],
                         "eps": full.get("eps", 1e-8), "weight_decay": full["weight_decay"],
                         "result": p.detach().tolist()})
with open("optim_steps.json", "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
print(torch.__version__, len(out["cases"]), "cases")
