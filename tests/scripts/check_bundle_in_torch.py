# Checks by hand that an export bundle of mnist_cnn loads into PyTorch and predicts what
# `nativecnn predict` prints (not run by the test suite: it needs python3-torch and PIL).
# Usage:
#   dotnet run --project src/NativeCnn.Cli -- train --limit 128 --epochs 1 --out /tmp/run
#   /usr/bin/python3 tests/scripts/check_bundle_in_torch.py /tmp/run/model digit.png ...
#   dotnet run --project src/NativeCnn.Cli -- predict --model /tmp/run digit.png ...
# The weights file is read with the standard library (no safetensors package needed); the model is
# torch_baseline.py's mnist_cnn, loaded with strict=True, fed with the bundle's own statistics.
import json, struct, sys
import numpy as np, torch, torch.nn as nn
from PIL import Image

def read_safetensors(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    header = json.loads(b[8:8 + n]); data = b[8 + n:]
    meta = header.pop('__metadata__', {})
    dtypes = {'F32': torch.float32, 'I32': torch.int32, 'F16': torch.float16}
    tensors = {k: torch.frombuffer(bytearray(data[v['data_offsets'][0]:v['data_offsets'][1]]), dtype=dtypes[v['dtype']]).reshape(v['shape'])
               for k, v in header.items()}
    return tensors, meta

def mnist_cnn(classes, in_ch):
    def block(ci, co, stride):
        return [nn.Conv2d(ci, co, 3, stride, 1, bias=False), nn.BatchNorm2d(co), nn.ReLU(inplace=True)]
    return nn.Sequential(*block(in_ch, 32, 1), *block(32, 64, 2), *block(64, 128, 2), *block(128, 128, 1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, classes))

state, meta = read_safetensors(sys.argv[1] + '/model.safetensors')
assert meta['arch'] == 'mnist_cnn', meta['arch']
args = json.loads(meta['arch.args']); classes = json.loads(meta['classes'])
model = mnist_cnn(args['classes'], args['in_channels'])
print(model.load_state_dict(state, strict=True))
model.eval()
mean = torch.tensor([float(v) for v in meta['norm.mean'].split(',')])[:, None, None]
std = torch.tensor([float(v) for v in meta['norm.std'].split(',')])[:, None, None]
for f in sys.argv[2:]:
    img = np.asarray(Image.open(f).convert('L' if args['in_channels'] == 1 else 'RGB'), dtype=np.float32) / 255.0
    # Images must already have the model's input size (this check does not resize or crop).
    x = torch.from_numpy(img).permute(2, 0, 1) if img.ndim == 3 else torch.from_numpy(img)[None]
    with torch.no_grad():
        p = torch.softmax(model(((x - mean) / std)[None]), 1)[0]
    print(f"{f}\t{classes[int(p.argmax())]}\t{float(p.max()):.4f}")
