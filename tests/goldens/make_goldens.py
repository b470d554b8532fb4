#!/usr/bin/env python3
"""PyTorch golden values for NativeCnn's mnist_cnn tests (tests/NativeCnn.Tests/Goldens/MnistCnnGoldenTests.cs).

Regenerate (Debian's python3-torch 1.13; no other package is needed):

    /usr/bin/python3 tests/goldens/make_goldens.py

It writes tests/NativeCnn.Tests/Goldens/mnist_cnn.safetensors, which is committed: the tests and CI
never need Python. The output is deterministic (fixed seed, one thread); running the script twice
gives byte-identical files, which the script checks itself with --check.

What the file holds (float32 unless said; names of model tensors exactly as torch's state_dict):
  input (8,1,28,28), labels (8) int64
  <name>                 every state_dict tensor BEFORE the step (0.weight, 1.weight, 1.bias,
                         1.running_mean, 1.running_var, 1.num_batches_tracked (int64), ..., 14.bias)
  logits (8,10), loss () one train-mode forward of the initial model, cross-entropy (mean)
  grad.<name>            the gradient of every parameter after loss.backward()
  after.<name>           running_mean, running_var, num_batches_tracked after that forward
  sgd_losses (5)         losses of 5 SGD steps (lr 0.05, momentum 0.9, weight decay 1e-4) from the
                         initial weights on the same batch; loss i is computed before step i
  sgd_eval_logits (8,10) eval-mode logits after those 5 steps
  sgd.<bn buffer>        running_mean, running_var, num_batches_tracked after those 5 steps
  sgd_fixed.<name>       the parameters after 5 SGD steps from the initial weights with the gradient
                         held at grad.<name> (no forward): the optimizer alone, free of the float32
                         chaos of a training trajectory (see below). All parameters except the two
                         large conv weights 6.weight and 9.weight (the update is the same elementwise
                         rule for every tensor; leaving them out keeps the file ~1 MB smaller)
  adamw_losses (5), adamw_fixed.<name>
                         the same with AdamW (lr 1e-3, betas (0.9, 0.99), eps 1e-8, weight decay 1e-2);
                         no eval logits or BN buffers after the AdamW run: Adam divides by sqrt(v),
                         so a gradient element that is float32 noise (1e-9 next to 1e-2) gets an
                         update near lr whose sign is the noise's. After 5 steps torch's own float32
                         run misses its float64 run by 3x the tests' 1e-4 rule in running means and
                         10x in eval logits, so those values would test rounding, not NativeCnn. The
                         losses average that out (float32 vs float64 under 2e-7 relative).

Why the seed is 25, and the margin check: a ReLU input within float32 rounding of zero can be on one
side of zero in torch and on the other in NativeCnn; the gradient then flows through it in one and not
in the other, and the first layers' gradients differ by ~1e-3 relative for that step (seed 0 had an
input of 1.8e-8 at the third AdamW step). Seed 25 has the largest margin of seeds 0..99: no ReLU
input in any forward here (1 + 2 x (5 train + 1 eval)) is within 8.6e-7 of zero, and the script
refuses to write a file whose margin is under MIN_RELU_MARGIN.

The model is mnist_cnn exactly as in shared/reference/torch_baseline.py (keep both in step).
"""
import argparse, copy, json, os, struct, sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 25                # see "Why the seed is 25" above
MIN_RELU_MARGIN = 5e-7   # smallest |ReLU input| allowed in any forward
BATCH = 8
STEPS = 5
FIXED_OMIT = {'6.weight', '9.weight'}
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'NativeCnn.Tests', 'Goldens', 'mnist_cnn.safetensors')

SGD_HP = dict(lr=0.05, momentum=0.9, weight_decay=1e-4)
ADAMW_HP = dict(lr=1e-3, betas=(0.9, 0.99), eps=1e-8, weight_decay=1e-2)


def mnist_cnn():
    # Copied from shared/reference/torch_baseline.py: 0..11 are 4x (conv, bn, relu), 12 pool, 13 flatten, 14 linear.
    def block(ci, co, stride):
        return [nn.Conv2d(ci, co, 3, stride, 1, bias=False), nn.BatchNorm2d(co), nn.ReLU(inplace=True)]
    return nn.Sequential(*block(1, 32, 1), *block(32, 64, 2), *block(64, 128, 2), *block(128, 128, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, 10))


# ---- a minimal safetensors writer/reader (the safetensors package is not part of Debian's torch) ----
DTYPES = {np.dtype('<f4'): 'F32', np.dtype('<f2'): 'F16', np.dtype('<i4'): 'I32', np.dtype('<i8'): 'I64'}


def to_numpy(t):
    a = t.detach().cpu().contiguous().numpy()
    a = a.astype(a.dtype.newbyteorder('<'), copy=False)
    if a.dtype not in DTYPES:
        raise ValueError(f'unsupported dtype {a.dtype}')
    return a


def save_safetensors(path, tensors, metadata):
    header, blobs, offset = {'__metadata__': metadata}, [], 0
    for name in sorted(tensors):
        a = to_numpy(tensors[name])
        b = a.tobytes()
        header[name] = {'dtype': DTYPES[a.dtype], 'shape': list(a.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(',', ':')).encode('utf-8')
    h += b' ' * ((8 - (8 + len(h)) % 8) % 8)  # data starts 8-byte aligned, as the reference writer does
    data = struct.pack('<Q', len(h)) + h + b''.join(blobs)
    tmp = path + '.tmp'
    with open(tmp, 'wb') as f:
        f.write(data)
    os.replace(tmp, path)
    return data


def load_safetensors(data):
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    header.pop('__metadata__', None)
    body = data[8 + n:]
    inv = {v: k for k, v in DTYPES.items()}
    return {k: np.frombuffer(body[e['data_offsets'][0]:e['data_offsets'][1]], dtype=inv[e['dtype']]).reshape(e['shape'])
            for k, e in header.items()}


# ---- the goldens ------------------------------------------------------------------------------
class ReluMargin:
    """Records the smallest |input| of every ReLU of the models it watches."""
    def __init__(self):
        self.smallest = float('inf')

    def watch(self, model):
        for m in model.modules():
            if isinstance(m, nn.ReLU):
                m.register_forward_pre_hook(self._hook)
        return model

    def _hook(self, module, inputs):
        self.smallest = min(self.smallest, inputs[0].detach().abs().min().item())


def run_steps(initial_state, make_opt, x, y, margin):
    """torch's training loop on one batch: the losses, then eval logits and BN buffers after the steps."""
    model = margin.watch(mnist_cnn())
    model.load_state_dict(copy.deepcopy(initial_state))
    model.train()
    opt = make_opt(model.parameters())
    losses = []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    model.eval()
    with torch.no_grad():
        eval_logits = model(x)
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    return torch.tensor(losses, dtype=torch.float32), eval_logits, buffers


def run_fixed_grad_steps(initial_state, make_opt, grads):
    """The optimizer alone: STEPS updates from the initial weights with every gradient held fixed."""
    model = mnist_cnn()
    model.load_state_dict(copy.deepcopy(initial_state))
    params = dict(model.named_parameters())
    opt = make_opt(params.values())
    for _ in range(STEPS):
        for name, p in params.items():
            p.grad = grads[name].clone()
        opt.step()
    return {k: p.detach().clone() for k, p in params.items() if k not in FIXED_OMIT}


def make_goldens():
    torch.manual_seed(SEED)
    margin = ReluMargin()
    model = margin.watch(mnist_cnn())
    x = torch.randn(BATCH, 1, 28, 28)
    y = torch.randint(0, 10, (BATCH,))
    initial = copy.deepcopy(model.state_dict())

    out = {'input': x, 'labels': y}
    out.update({k: v.clone() for k, v in initial.items()})

    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    out['logits'] = logits
    out['loss'] = loss
    grads = {name: p.grad.clone() for name, p in model.named_parameters()}
    out.update({'grad.' + name: g for name, g in grads.items()})
    for name, b in model.named_buffers():
        out['after.' + name] = b.clone()

    for name, make_opt in (('sgd', lambda ps: torch.optim.SGD(ps, **SGD_HP)), ('adamw', lambda ps: torch.optim.AdamW(ps, **ADAMW_HP))):
        losses, eval_logits, buffers = run_steps(initial, make_opt, x, y, margin)
        out[name + '_losses'] = losses
        if name == 'sgd':  # see "adamw_losses" above for why AdamW's are left out
            out[name + '_eval_logits'] = eval_logits
            out.update({f'{name}.{k}': v for k, v in buffers.items()})
        out.update({f'{name}_fixed.{k}': v for k, v in run_fixed_grad_steps(initial, make_opt, grads).items()})
    return out, margin.smallest


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=OUT)
    ap.add_argument('--check', action='store_true', help='also regenerate in memory and verify the result is identical')
    a = ap.parse_args()

    torch.set_num_threads(1)  # one thread: the same summation order on every run
    torch.use_deterministic_algorithms(True)
    out, margin = make_goldens()
    if margin < MIN_RELU_MARGIN:
        sys.exit(f'seed {SEED}: a ReLU input is {margin:.2e} from zero (under {MIN_RELU_MARGIN:.0e}); '
                 'pick another seed (see "Why the seed is 25")')
    metadata = {'generator': 'tests/goldens/make_goldens.py', 'torch': torch.__version__, 'seed': str(SEED), 'relu_margin': f'{margin:.3e}',
                'sgd': json.dumps(SGD_HP), 'adamw': json.dumps(ADAMW_HP)}
    data = save_safetensors(os.path.abspath(a.out), out, metadata)

    # Self-check the writer: every tensor reads back bit for bit.
    back = load_safetensors(data)
    assert sorted(back) == sorted(out), 'names differ after read-back'
    for k, v in out.items():
        assert np.array_equal(back[k], to_numpy(v)), f'{k} differs after read-back'
    if a.check:
        again, _ = make_goldens()
        for k in out:
            assert torch.equal(out[k], again[k]), f'{k} differs between two runs: not deterministic'
        print('deterministic: two runs are identical')

    print(f'wrote {os.path.normpath(a.out)} ({len(data)} bytes, {len(out)} tensors); smallest |ReLU input| {margin:.3e}')
    print(f"loss {out['loss'].item():.6f}  sgd_losses {out['sgd_losses'].tolist()}")
    print(f"adamw_losses {out['adamw_losses'].tolist()}")


if __name__ == '__main__':
    sys.exit(main())
