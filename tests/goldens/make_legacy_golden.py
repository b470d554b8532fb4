"""Writes cases_legacy.pth and checkpoint_legacy.pth: the golden cases_p2.pth and checkpoint_p4.pth
re-saved in torch.save's legacy format (before torch 1.6, or _use_new_zipfile_serialization=False):
a sequence of pickles (magic number, protocol version, sys_info, the object with persistent ids
('storage', type, key, location, numel, None), the sorted storage keys) followed by each storage as
an 8-byte element count and its raw bytes. Older torchvision and fastai v1 weights were saved so.
NativeCnn must read them to the same values as the zip files (cases_expected.safetensors).

Run with Debian's python3-torch: /usr/bin/python3 tests/goldens/make_legacy_golden.py
"""
import os
import torch

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'NativeCnn.Tests', 'Goldens', 'resnet')
for src, dst in [('cases_p2.pth', 'cases_legacy.pth'), ('checkpoint_p4.pth', 'checkpoint_legacy.pth')]:
    obj = torch.load(os.path.join(here, src))
    path = os.path.join(here, dst)
    torch.save(obj, path, _use_new_zipfile_serialization=False)
    with open(path, 'rb') as f:
        assert f.read(2) == b'\x80\x02', 'expected a bare protocol-2 pickle, not a zip'
    back = torch.load(path)
    # the same tensors, values and views as the zip file
    items = obj.items() if 'state_dict' not in obj else obj['state_dict'].items()
    items_back = back if 'state_dict' not in back else back['state_dict']
    for k, v in items:
        assert torch.equal(items_back[k], v) if v.dtype != torch.bool or v.numel() else True, k
    print(dst, os.path.getsize(path), 'bytes,', len(list(items)), 'tensors')
