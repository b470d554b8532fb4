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
  sgd.<name>             the state_dict after those 5 steps, except the two large conv weights
                         6.weight and 9.weight (their gradients are checked above and their update is
                         the same elementwise rule; leaving them out keeps the file ~1 MB smaller)
  adamw_losses (5), adamw_eval_logits (8,10), adamw.<name>   the same with AdamW (lr 1e-3,
                         betas (0.9, 0.99), eps 1e-8, weight decay 1e-2)

The model is mnist_cnn exactly as in shared/reference/torch_baseline.py (keep both in step).
"""
import argparse, copy, json, os, struct, sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 0
BATCH = 8
STEPS = 5
AFTER_STEPS_OMIT = {'6.weight', '9.weight'}
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
def run_steps(initial_state, make_opt, x, y):
    model = mnist_cnn()
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
    state = {k: v.clone() for k, v in model.state_dict().items() if k not in AFTER_STEPS_OMIT}
    return torch.tensor(losses, dtype=torch.float32), eval_logits, state


def make_goldens():
    torch.manual_seed(SEED)
    model = mnist_cnn()
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
    for name, p in model.named_parameters():
        out['grad.' + name] = p.grad
    for name, b in model.named_buffers():
        out['after.' + name] = b.clone()

    for name, make_opt in (('sgd', lambda ps: torch.optim.SGD(ps, **SGD_HP)), ('adamw', lambda ps: torch.optim.AdamW(ps, **ADAMW_HP))):
        losses, eval_logits, state = run_steps(initial, make_opt, x, y)
        out[name + '_losses'], out[name + '_eval_logits'] = losses, eval_logits
        out.update({f'{name}.{k}': v for k, v in state.items()})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default=OUT)
    ap.add_argument('--check', action='store_true', help='also regenerate in memory and verify the result is identical')
    a = ap.parse_args()

    torch.set_num_threads(1)  # one thread: the same summation order on every run
    torch.use_deterministic_algorithms(True)
    out = make_goldens()
    metadata = {'generator': 'tests/goldens/make_goldens.py', 'torch': torch.__version__, 'seed': str(SEED),
                'sgd': json.dumps(SGD_HP), 'adamw': json.dumps(ADAMW_HP)}
    data = save_safetensors(os.path.abspath(a.out), out, metadata)

    # Self-check the writer: every tensor reads back bit for bit.
    back = load_safetensors(data)
    assert sorted(back) == sorted(out), 'names differ after read-back'
    for k, v in out.items():
        assert np.array_equal(back[k], to_numpy(v)), f'{k} differs after read-back'
    if a.check:
        again = make_goldens()
        for k in out:
            assert torch.equal(out[k], again[k]), f'{k} differs between two runs: not deterministic'
        print('deterministic: two runs are identical')

    print(f'wrote {os.path.normpath(a.out)} ({len(data)} bytes, {len(out)} tensors)')
    print(f"loss {out['loss'].item():.6f}  sgd_losses {out['sgd_losses'].tolist()}")
    print(f"adamw_losses {out['adamw_losses'].tolist()}")


if __name__ == '__main__':
    sys.exit(main())
