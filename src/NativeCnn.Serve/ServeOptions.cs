// The settings of one model server: what it serves, where it listens, where corrections go, and the
// limits that keep a request from costing more than it should (body size, pixels, decode time) and
// the dynamic batcher's shape. Must hold: the defaults bind to the loopback address only.
namespace NativeCnn.Serve;

/// <summary>How a <see cref="ModelServer"/> runs; every limit has a safe default.</summary>
public sealed record ServeOptions
{
    /// <summary>The export bundle: a bundle folder, a train/finetune --out folder holding one as "model",
    /// or the model.safetensors file itself. Watched for a new bundle.</summary>
    public required string ModelPath { get; init; }

    /// <summary>The address to bind; 127.0.0.1 (this machine only) unless told otherwise.</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The TCP port; 0 lets the system choose (read it back from <see cref="ModelServer.Address"/>).</summary>
    public int Port { get; init; } = 8080;

    /// <summary>Where corrections are stored (finetune's layout, &lt;dir&gt;/&lt;class&gt;/&lt;sha256&gt;.&lt;ext&gt;);
    /// null: corrections are refused (503) and the page hides the button.</summary>
    public string? CorrectionsDir { get; init; }

    /// <summary>The device the model runs on (the CPU if null).</summary>
    public Device? Device { get; init; }

    /// <summary>Most images in one forward pass (1: no batching, one request at a time).</summary>
    public int MaxBatch { get; init; } = 32;

    /// <summary>How long the batcher waits for more requests after the first of a batch arrives.</summary>
    public TimeSpan MaxWait { get; init; } = TimeSpan.FromMilliseconds(2);

    /// <summary>Largest request body accepted (413 above it).</summary>
    public long MaxBodyBytes { get; init; } = 16 << 20;

    /// <summary>Most images in one predict request.</summary>
    public int MaxImagesPerRequest { get; init; } = 64;

    /// <summary>Largest width x height decoded (read from the header first, so a bomb is never decoded).</summary>
    public long MaxPixels { get; init; } = 4096L * 4096;

    /// <summary>How long decoding one upload may take before the request is refused.</summary>
    public TimeSpan DecodeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often the bundle's weights file is checked for a new bundle; zero or less: never
    /// (reload then only through POST /api/reload).</summary>
    public TimeSpan WatchInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>How many classes each prediction lists, most probable first.</summary>
    public int TopK { get; init; } = 5;

    /// <summary>Checks every setting; throws a <see cref="NativeCnnException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ModelPath)) throw new NativeCnnException("serve: the model path is empty; expected an export bundle folder");
        if (string.IsNullOrWhiteSpace(Host)) throw new NativeCnnException("serve: the host is empty; expected an address such as 127.0.0.1");
        if (Port is < 0 or > 65535) throw new NativeCnnException($"serve: port {Port} is out of range; expected 0 to 65535");
        if (MaxBatch < 1) throw new NativeCnnException($"serve: max batch {MaxBatch}; expected at least 1");
        if (MaxWait < TimeSpan.Zero) throw new NativeCnnException($"serve: max wait {MaxWait.TotalMilliseconds} ms; expected 0 or more");
        if (MaxBodyBytes < 1) throw new NativeCnnException($"serve: max body {MaxBodyBytes} bytes; expected at least 1");
        if (MaxImagesPerRequest < 1) throw new NativeCnnException($"serve: max images per request {MaxImagesPerRequest}; expected at least 1");
        if (MaxPixels < 1) throw new NativeCnnException($"serve: max pixels {MaxPixels}; expected at least 1");
        if (DecodeTimeout <= TimeSpan.Zero) throw new NativeCnnException($"serve: decode timeout {DecodeTimeout.TotalMilliseconds} ms; expected more than 0");
        if (TopK < 1) throw new NativeCnnException($"serve: top-k {TopK}; expected at least 1");
    }
}
