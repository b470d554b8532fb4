#!/usr/bin/env python3
"""PyTorch AMP records of torch_baseline.py's five conv cases (issue 18's --fp16 vs AMP pairing for the conv
layers; torch_baseline.py times its convs in float32 only): the same layers, sizes, inputs and timing
(torch_baseline.timeit: CUDA events, median of 10 after 3 warm-ups), forward + backward under
torch.autocast(float16), one JSON line each with the same case name and "amp": true, which NativeCnn's
bench pairs with its "_amp" conv cases (NativeCnn.Benchmarking.TorchPairing).

  python3 torch_conv_amp.py --device cuda >> torch_baseline.jsonl     (beside torch_baseline.py)
  python3 torch_conv_amp.py --device cpu --quick                      (a check that it runs: bfloat16, tiny)
"""
import argparse, os, sys
import torch
import torch.nn as nn
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_baseline import timeit, emit   # the same timing and output as the baseline

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    ap.add_argument('--quick', action='store_true', help='batch 2, channels / 16 (a check, not a measurement)')
    a = ap.parse_args(); dev = a.device
    torch.manual_seed(0)
    dtype = torch.float16 if dev == 'cuda' else torch.bfloat16   # CPU autocast takes bfloat16
    b = 2 if a.quick else 128
    for (ci, co, hw, k, s) in [(3, 64, 128, 7, 2), (64, 64, 32, 3, 1), (128, 128, 16, 3, 1), (256, 256, 8, 3, 1), (512, 512, 4, 3, 1)]:
        if a.quick: ci, co, hw = (ci if ci == 3 else ci // 16), co // 16, max(4, hw // 4)
        conv = nn.Conv2d(ci, co, k, s, k // 2, bias=False).to(dev)
        xin = torch.randn(b, ci, hw, hw, device=dev, requires_grad=True)
        def fb():
            with torch.autocast(device_type=dev, dtype=dtype):
                out = conv(xin)
            out.backward(torch.ones_like(out))
        ms = timeit(fb, dev)
        ho = (hw + 2 * (k // 2) - k) // s + 1
        flops = 3 * 2 * b * co * ho * ho * ci * k * k
        emit(case=f'conv{k}x{k}_{ci}to{co}_{hw}px_s{s}_fwdbwd', device=dev, amp=True, batch=b,
             median_ms=round(ms, 3), tflops=round(flops / ms / 1e9, 3))

if __name__ == '__main__':
    main()
