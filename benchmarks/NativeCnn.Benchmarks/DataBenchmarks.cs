// Data-pipeline throughput: images per second decoded (JPEG 160x160 RGB, quality 90) and augmented
// (fastai get_transforms defaults, random crop to 128x128) by the DataLoader with one worker and with
// every core, plus decode alone and augment alone on one thread. OperationsPerInvoke = images, so
// the reported Mean is per image (images/s = 1 s / Mean). Results: benchmarks/results/data-notes.md.
using BenchmarkDotNet.Attributes;
using NativeCnn.Data;
using NativeCnn.Data.Transforms;
using SixLabors.ImageSharp;
using SixLabors.ImageSharp.Formats.Jpeg;
using SixLabors.ImageSharp.PixelFormats;

namespace NativeCnn.Benchmarks;

[MemoryDiagnoser]
[SimpleJob(warmupCount: 2, iterationCount: 6)]
public class DataBenchmarks
{
    private const int Images = 128, Side = 160, Target = 128;
    private string _dir = "";
    private ImageFileDataset _data = null!;
    private DecodedImage _decoded = null!;
    private readonly ImageTransform _transform = new(Target, Target);
    private readonly float[] _out = new float[3 * Target * Target];

    /// <summary>0 means Environment.ProcessorCount.</summary>
    [Params(1, 0)] public int Workers { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _dir = Directory.CreateTempSubdirectory("nativecnn-databench-").FullName;
        for (int i = 0; i < Images; i++)
        {
            using var img = new Image<Rgb24>(Side, Side);
            for (int y = 0; y < Side; y++)
                for (int x = 0; x < Side; x++)
                    img[x, y] = new Rgb24((byte)(x * 3 + i), (byte)(y * 5 + x), (byte)((x ^ y) + i * 7));
            string cls = Path.Combine(_dir, $"c{i % 4}");
            Directory.CreateDirectory(cls);
            img.Save(Path.Combine(cls, $"{i:D4}.jpg"), new JpegEncoder { Quality = 90 });
        }
        _data = FolderDataset.FromClassFolders(_dir);
        _decoded = _data.Load(0);
    }

    [GlobalCleanup]
    public void Cleanup() => Directory.Delete(_dir, true);

    [Benchmark(OperationsPerInvoke = Images)]
    public int LoaderEpochDecodeAugment()
    {
        var loader = new DataLoader(_data, _transform, new DataLoaderOptions
        {
            BatchSize = 32, Shuffle = true, Train = true, Normalize = NormStats.ImageNet,
            Workers = Workers == 0 ? Environment.ProcessorCount : Workers,
        }, new Rng(1));
        int n = 0;
        foreach (var b in loader.Epoch()) n += b.Indices.Length;
        return n;
    }

    [Benchmark(OperationsPerInvoke = Images)]
    public float DecodeOnlyOneThread()
    {
        float s = 0;
        for (int i = 0; i < Images; i++) s += _data.Load(i).Pixels[0];
        return s;
    }

    [Benchmark(OperationsPerInvoke = Images)]
    public float AugmentOnlyOneThread()
    {
        for (int i = 0; i < Images; i++) _transform.Apply(_decoded, _out, true, (ulong)i);
        return _out[0];
    }
}
