// The ranges of the sizes and counts a command line may ask for, checked before any arithmetic uses
// them (a product of them sizes every buffer). Must hold: no value a user can type reaches an
// OverflowException or an allocation the engine cannot index; the message names the flag, the limit
// and the value. The bundle's own limits (input size and channels read from a file) are BundleInfo's.
namespace NativeCnn.Cli;

internal static class Limits
{
    /// <summary>Image side in pixels (--size).</summary>
    public const int MaxSize = 4096;
    /// <summary>Input channels the data path accepts (grey, grey+alpha, RGB, RGBA).</summary>
    public const int MaxChannels = 4;
    public const int MaxBatch = 65536;
    public const int MaxEpochs = 1_000_000;
    /// <summary>Grid cells of show-batch (rows, cols) and top-loss images of interpret.</summary>
    public const int MaxGrid = 64, MaxTop = 10_000;
    /// <summary>Values in one batch tensor: what a tensor's int element count holds.</summary>
    public const long MaxBatchValues = int.MaxValue;

    /// <summary>Refuses a batch whose (N, C, H, W) element count does not fit a tensor, naming the flags.</summary>
    public static void CheckBatch(string command, int batch, int channels, (int H, int W) size)
    {
        long values = (long)batch * channels * size.H * size.W;
        if (values > MaxBatchValues)
            throw new UsageException($"{command}: a batch of {batch} x {channels} x {size.H} x {size.W} = {values:N0} values is over the limit of {MaxBatchValues:N0}; lower --bs or --size");
    }
}
