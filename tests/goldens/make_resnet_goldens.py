#!/usr/bin/env python3
"""PyTorch golden files for NativeCnn's ResNet and weight-import tests
(tests/NativeCnn.Tests/Models/ResNetGoldenTests.cs, tests/NativeCnn.Tests/IO/TorchCheckpointTests.cs).

Regenerate (Debian's python3-torch 1.13; torchvision and the safetensors package are not needed):

    /usr/bin/python3 tests/goldens/make_resnet_goldens.py [--check]

It writes, under tests/NativeCnn.Tests/Goldens/resnet/ (committed; tests and CI never need Python):
  resnet18.safetensors   the state_dict of a resnet18 (10 classes) with seeded weights, torch's names
  resnet18.pth           the same state_dict saved by torch.save (zip archive, pickle protocol 2)
  resnet18_io.safetensors
      input (2,3,64,64), labels (2) int64
      eval_logits (2,10)   eval-mode forward (running statistics)
      train_logits (2,10), loss ()   train-mode forward (batch statistics), cross-entropy (mean)
      grad.<name>          full gradient of the small parameters (every BN weight/bias, conv1, fc)
      gstat.<name>         for every other (large conv) weight: [L2 norm, sum, max |g|]
      gidx.<name> (int64), gval.<name>   the gradient at GRAD_SAMPLES seeded flat indices
      after.<name>         bn1 and layer4.1.bn2 running statistics after the train-mode forward
  cases_p2.pth           dtypes and views (torch.save, protocol 2): see CASES below
  checkpoint_p4.pth      a training checkpoint dict {"epoch", "state_dict", ...} (protocol 4: FRAME,
                         SHORT_BINUNICODE, MEMOIZE, STACK_GLOBAL) whose state_dict is a small Sequential
  cases_expected.safetensors   what NativeCnn must read from the two files above (float32 / int32)

Size: resnet18 is 11.2M parameters (45 MB as float32). To keep the repository small, every conv and
fc weight is drawn from torchvision's init and then put on a coarse grid: w = s * round(w / s) with s
a power of two near 2.5 x the init's standard deviation, so most values are -s, 0 or +s and the
float32 bytes compress ~10x under git's zlib. BN weight/bias lie on a 1/64 grid; the running
statistics are those of a calibration batch, rounded to 4 significant bits, so eval-mode activations
stay of order one through all 8 blocks (random running statistics would blow them up).

ReLU margin: a ReLU input within float32 rounding of zero can fall on the other side in NativeCnn;
the script reports the smallest |ReLU input| of the train-mode forward, and refuses a seed under
MIN_RELU_MARGIN. A flip there changes only that element's path (tolerances in the tests allow it).
"""
import argparse, collections, json, math, os, struct, sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SEED = 6
MIN_RELU_MARGIN = 1e-7
GRAD_SAMPLES = 256
HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.join(HERE, '..', 'NativeCnn.Tests', 'Goldens', 'resnet')


# ---- torchvision's resnet18, written out (torchvision is not installed here; same names, same order) ----
class BasicBlock(nn.Module):
    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        return self.relu(out + identity)


class ResNet(nn.Module):
    def __init__(self, layers, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], 2)
        self.layer3 = self._make_layer(256, layers[2], 2)
        self.layer4 = self._make_layer(512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet18(num_classes):
    return ResNet([2, 2, 2, 2], num_classes)


# ---- a minimal safetensors writer/reader (the safetensors package is not part of Debian's torch) ----
DTYPES = {np.dtype('<f4'): 'F32', np.dtype('<f2'): 'F16', np.dtype('<i4'): 'I32', np.dtype('<i8'): 'I64'}


def to_numpy(t):
    a = t.detach().cpu().contiguous().numpy()
    a = a.astype(a.dtype.newbyteorder('<'), copy=False)
    if a.dtype not in DTYPES:
        raise ValueError(f'unsupported dtype {a.dtype}')
    return a


def save_safetensors(path, tensors, metadata, order=None):
    header, blobs, offset = {'__metadata__': metadata}, [], 0
    for name in (order or sorted(tensors)):
        a = to_numpy(tensors[name])
        b = a.tobytes()
        header[name] = {'dtype': DTYPES[a.dtype], 'shape': list(a.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(',', ':')).encode('utf-8')
    h += b' ' * ((8 - (8 + len(h)) % 8) % 8)
    data = struct.pack('<Q', len(h)) + h + b''.join(blobs)
    with open(path, 'wb') as f:
        f.write(data)
    return data


def load_safetensors(data):
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    header.pop('__metadata__', None)
    body = data[8 + n:]
    inv = {v: k for k, v in DTYPES.items()}
    return {k: np.frombuffer(body[e['data_offsets'][0]:e['data_offsets'][1]], dtype=inv[e['dtype']]).reshape(e['shape'])
            for k, e in header.items()}


# ---- the model's weights ----------------------------------------------------------------------
def coarse_bits(t, bits=4):
    """Rounds to `bits` significant bits (keeps the sign; zero stays zero)."""
    m, e = torch.frexp(t)
    return torch.ldexp(torch.round(m * 2 ** bits) / 2 ** bits, e)


def make_model():
    torch.manual_seed(SEED)
    model = resnet18(10)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() > 1:  # conv and fc weights: ternary-ish grid of a power-of-two step
                std = p.std().item()
                s = 2.0 ** round(math.log2(2.5 * std))
                p.copy_(torch.round(p / s) * s)
            elif name.endswith('weight'):  # BN weight
                p.copy_(torch.round((1 + 0.2 * torch.randn_like(p)) * 64) / 64)
            else:  # BN and fc bias
                p.copy_(torch.round(0.1 * torch.randn_like(p) * 64) / 64)
        # Calibrate the running statistics on one batch, then put them on a coarse grid.
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 1.0
        model.train()
        model(torch.randn(8, 3, 64, 64))
        for name, m in model.named_modules():
            if isinstance(m, nn.BatchNorm2d):
                m.momentum = 0.1
                m.running_mean.copy_(coarse_bits(m.running_mean))
                m.running_var.copy_(coarse_bits(m.running_var))
                m.num_batches_tracked.fill_(7)
    return model


class ReluMargin:
    def __init__(self):
        self.smallest = float('inf')

    def watch(self, model):
        for m in model.modules():
            if isinstance(m, nn.ReLU):
                m.register_forward_pre_hook(self._hook)
        return model

    def _hook(self, module, inputs):
        self.smallest = min(self.smallest, inputs[0].detach().abs().min().item())


def make_io(model):
    g = torch.Generator().manual_seed(SEED + 1000)
    x = torch.round(torch.randn(2, 3, 64, 64, generator=g) * 32) / 32
    y = torch.tensor([3, 8], dtype=torch.int64)
    out = {'input': x, 'labels': y}
    model.eval()
    with torch.no_grad():
        out['eval_logits'] = model(x)
    margin = ReluMargin()
    margin.watch(model)
    model.train()
    logits = model(x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    out['train_logits'] = logits.detach()
    out['loss'] = loss.detach()
    gi = torch.Generator().manual_seed(SEED + 2000)
    for name, p in model.named_parameters():
        grad = p.grad.detach()
        if p.numel() <= 10000:
            out['grad.' + name] = grad.clone()
        else:
            flat = grad.reshape(-1).double()
            out['gstat.' + name] = torch.tensor([flat.norm().item(), flat.sum().item(), flat.abs().max().item()], dtype=torch.float32)
            idx = torch.randint(0, p.numel(), (GRAD_SAMPLES,), generator=gi)
            out['gidx.' + name] = idx
            out['gval.' + name] = grad.reshape(-1)[idx].clone()
    for bn in ('bn1', 'layer4.1.bn2'):
        for buf in ('running_mean', 'running_var', 'num_batches_tracked'):
            out[f'after.{bn}.{buf}'] = model.get_submodule(bn).get_buffer(buf).clone()
    return out, margin.smallest


# ---- dtype/view cases and a checkpoint dict for the pickle reader --------------------------------
def make_cases():
    g = torch.Generator().manual_seed(SEED + 3000)
    base = torch.round(torch.randn(6, 5, generator=g) * 64) / 64
    cases = collections.OrderedDict()
    cases['f32_slice'] = base[2:5]                 # a view with a storage offset (10)
    cases['f32_transposed'] = base.t()             # strides (1, 5)
    cases['f32_column'] = base[1:, 3]              # offset 8, stride 5
    cases['f32_whole'] = base                      # shares the storage of the three views above
    cases['f64'] = (base[:2] * 3).double()         # narrowed to float32 by NativeCnn
    cases['f16'] = base[:3].half()
    cases['bf16'] = base[:2, :3].bfloat16()        # read as float32 (exact)
    cases['i64'] = torch.tensor([[-3, 0, 2 ** 31 - 1], [4, 5, -2 ** 31]], dtype=torch.int64)
    cases['i32'] = torch.arange(7, dtype=torch.int32)
    cases['u8'] = torch.tensor([0, 7, 255], dtype=torch.uint8)
    cases['bool'] = torch.tensor([True, False, True])
    cases['scalar'] = torch.tensor(2.5)
    cases['num_batches_tracked'] = torch.tensor(12345, dtype=torch.int64)
    cases['empty'] = torch.zeros(0, 4)
    cases['expanded'] = torch.arange(3.0).reshape(3, 1).expand(3, 4)   # stride 0
    expected = {}
    for k, v in cases.items():
        if v.dtype in (torch.float64, torch.float16, torch.bfloat16):
            expected[k] = v.float()
        elif v.dtype in (torch.int64, torch.uint8, torch.bool):
            expected[k] = v.int()
        else:
            expected[k] = v.contiguous()
    torch.manual_seed(SEED + 4000)
    small = nn.Sequential(nn.Conv2d(1, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    small_sd = small.state_dict()
    checkpoint = {'epoch': 3, 'state_dict': small_sd, 'lr': 0.125, 'arch': 'small', 'best': None, 'ok': True,
                  'history': [1.5, 0.75], 'big': 2 ** 70, 'neg': -2 ** 40, 'pair': (1, 'a'), 'tags': {'x', 'y'}}
    for k, v in small_sd.items():
        expected['ckpt.' + k] = v.int() if v.dtype == torch.int64 else v.clone()
    return cases, checkpoint, expected


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out-dir', default=OUT_DIR)
    ap.add_argument('--check', action='store_true', help='regenerate in memory and verify the result is identical')
    a = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out_dir = os.path.abspath(a.out_dir)
    os.makedirs(out_dir, exist_ok=True)

    model = make_model()
    state = model.state_dict()
    weights = {k: v.clone() for k, v in state.items()}
    io, margin = make_io(model)
    if margin < MIN_RELU_MARGIN:
        sys.exit(f'seed {SEED}: a ReLU input is {margin:.2e} from zero (under {MIN_RELU_MARGIN:.0e}); pick another seed')
    meta = {'generator': 'tests/goldens/make_resnet_goldens.py', 'torch': torch.__version__, 'seed': str(SEED)}
    wdata = save_safetensors(os.path.join(out_dir, 'resnet18.safetensors'), weights, meta, order=list(weights))
    torch.save(collections.OrderedDict(weights), os.path.join(out_dir, 'resnet18.pth'))
    io_meta = dict(meta, relu_margin=f'{margin:.3e}', grad_samples=str(GRAD_SAMPLES))
    iodata = save_safetensors(os.path.join(out_dir, 'resnet18_io.safetensors'), io, io_meta)

    cases, checkpoint, expected = make_cases()
    torch.save(cases, os.path.join(out_dir, 'cases_p2.pth'))
    torch.save(checkpoint, os.path.join(out_dir, 'checkpoint_p4.pth'), pickle_protocol=4)
    save_safetensors(os.path.join(out_dir, 'cases_expected.safetensors'), expected, meta)

    # Self-checks: the safetensors writer round-trips, torch reads its own .pth back to the same values.
    back = load_safetensors(wdata)
    for k, v in weights.items():
        assert np.array_equal(back[k], to_numpy(v)), k
    back_pth = torch.load(os.path.join(out_dir, 'resnet18.pth'))
    for k, v in weights.items():
        assert torch.equal(back_pth[k], v), k
    assert list(load_safetensors(iodata)) == sorted(io)
    if a.check:
        again, _ = make_io(make_model())
        for k in io:
            assert torch.equal(io[k], again[k]), f'{k} differs between two runs: not deterministic'
        print('deterministic: two runs are identical')

    sizes = {f: os.path.getsize(os.path.join(out_dir, f)) for f in sorted(os.listdir(out_dir))}
    print(f'wrote {out_dir}: {sizes}')
    print(f"smallest |ReLU input| {margin:.3e}; loss {io['loss'].item():.6f}")
    print('eval logits', io['eval_logits'].tolist())
    print('train logits', io['train_logits'].tolist())


if __name__ == '__main__':
    sys.exit(main())
