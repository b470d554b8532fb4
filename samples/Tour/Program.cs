// A tour for people studying how CNN training works, in four short steps with numbers to check by hand:
// a tensor and its strides, a gradient worked out by hand against autograd's, a convolution on the CPU
// backend against the same convolution run by the GPU kernels on ILGPU's CPU simulator (the kernels are
// C# compiled for the GPU; the simulator runs them on the CPU, thread by thread), and one SGD step.
//   dotnet run
using NativeCnn;

int failures = 0;
void Check(string what, double got, double expected, double tol = 1e-5)
{
    bool ok = Math.Abs(got - expected) <= tol * Math.Max(1, Math.Abs(expected));
    if (!ok) failures++;
    Console.WriteLine($"  {what,-44} {got,12:G6}  expected {expected,12:G6}  {(ok ? "ok" : "MISMATCH")}");
}

// 1. A tensor: values, shape and a view that shares them.
Console.WriteLine("1. tensors");
var a = Tensor.FromArray(new float[] { 1, 2, 3, 4, 5, 6 }, new[] { 2, 3 });
var t = a.Transpose(0, 1);                        // (3, 2): a view, no copy
Console.WriteLine($"  a: shape {string.Join("x", a.Shape)}, a^T: shape {string.Join("x", t.Shape)}");
Check("a^T[2, 1] = a[1, 2]", t.Contiguous().ToArray()[2 * 2 + 1], 6);
Check("sum of a", a.Sum().Item(), 21);

// 2. A gradient by hand against autograd: loss = mean((w*x + b - y)^2).
//    dloss/dw = mean(2 (w x + b - y) x), dloss/db = mean(2 (w x + b - y)).
Console.WriteLine("2. a gradient by hand against autograd");
float[] xs = { 1, 2, 3, 4 }, ys = { 3, 5, 7, 9 };
float wv = 0.5f, bv = 0.1f;
double dw = 0, db = 0;
for (int i = 0; i < 4; i++) { double r = wv * xs[i] + bv - ys[i]; dw += 2 * r * xs[i] / 4; db += 2 * r / 4; }
var w = Tensor.FromArray(new[] { wv }, new[] { 1 }, requiresGrad: true);
var b = Tensor.FromArray(new[] { bv }, new[] { 1 }, requiresGrad: true);
var x = Tensor.FromArray(xs, new[] { 4 });
var y = Tensor.FromArray(ys, new[] { 4 });
var loss = (x * w + b - y).Pow(2).Mean();
loss.Backward();
Check("dloss/dw (autograd vs by hand)", w.Grad!.Item(), dw);
Check("dloss/db (autograd vs by hand)", b.Grad!.Item(), db);

// 3. One convolution kernel on the GPU simulator against the CPU backend.
Console.WriteLine("3. conv2d: CPU backend against the GPU kernel on ILGPU's CPU simulator");
var rng = new Rng(1);
var input = Tensor.Randn(new[] { 1, 2, 5, 5 }, rng);          // (N, C, H, W)
var weight = Tensor.Randn(new[] { 3, 2, 3, 3 }, rng);         // (out channels, in channels, kH, kW)
var cpu = F.Conv2d(input, weight, padding: 1).ToArray();
var sim = Devices.Simulator();
var gpu = F.Conv2d(input.To(sim), weight.To(sim), padding: 1).ToArray();
Check("largest |cpu - simulator| over 75 outputs", cpu.Zip(gpu).Max(p => Math.Abs(p.First - p.Second)), 0, 1e-4);
// The first output by hand: the 3x3 window at (0, 0) with zero padding, summed over both input channels.
double first = 0;
var iv = input.ToArray(); var wk = weight.ToArray();
for (int c = 0; c < 2; c++)
    for (int ky = 0; ky < 3; ky++)
        for (int kx = 0; kx < 3; kx++)
        {
            int yy = ky - 1, xx = kx - 1;
            if (yy >= 0 && xx >= 0) first += iv[c * 25 + yy * 5 + xx] * wk[c * 9 + ky * 3 + kx];
        }
Check("output[0, 0, 0, 0] by hand", cpu[0], first, 1e-4);

// 4. One SGD step moves w against its gradient: w' = w - lr * dloss/dw.
Console.WriteLine("4. one SGD step");
var opt = new NativeCnn.Optim.SGD(new[] { w, b }, lr: 0.01f);
opt.Step();
Check("w after the step", w.Item(), wv - 0.01 * dw);

Console.WriteLine(failures == 0 ? "every check agrees" : $"{failures} check(s) disagree");
return failures == 0 ? 0 : 1;
